//! PostgreSQL for tests: the server named by `$WEFT_TEST_POSTGRES` (a URL of a database
//! whose user may create databases; `.ci/run` starts one), or else a throwaway server of the
//! test's own ([`weft_procs::postgres::PgServer`]). Each test works in fresh databases.
use crate::PgUrl;
use std::sync::atomic::{AtomicU32, Ordering};
use weft_procs::postgres::PgServer;

/// Where test databases are created.
pub struct TestPg {
    /// Our own server, when no shared one was named; stopped on drop.
    pub server: Option<PgServer>,
    admin_url: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl TestPg {
    /// The shared server if `$WEFT_TEST_POSTGRES` names one, else a new one of our own.
    pub fn new() -> TestPg {
        match std::env::var("WEFT_TEST_POSTGRES") {
            Ok(url) if !url.is_empty() => TestPg { server: None, admin_url: url },
            _ => TestPg::own(),
        }
    }

    /// Always a server of our own (a test that stops and starts it).
    pub fn own() -> TestPg {
        let server = PgServer::start().unwrap_or_else(|e| panic!("starting PostgreSQL for the test: {e}"));
        let admin_url = server.url("postgres");
        TestPg { server: Some(server), admin_url }
    }

    /// A new, empty database, named uniquely across processes sharing the server. Callable
    /// from async tests too (the blocking client runs on a thread of its own).
    pub fn fresh_database(&self) -> PgUrl {
        let name = format!("weft_test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let admin = PgUrl::parse(&self.admin_url).unwrap_or_else(|e| panic!("admin URL: {e}"));
        Self::execute(&admin, &format!("CREATE DATABASE {name}"));
        let base = self.admin_url.rsplit_once('/').map_or(self.admin_url.as_str(), |(base, _)| base);
        PgUrl::parse(&format!("{base}/{name}")).unwrap_or_else(|e| panic!("test URL: {e}"))
    }
}

impl TestPg {
    /// Runs `sql` on the database at `url` (from async tests too).
    pub fn execute(url: &PgUrl, sql: &str) {
        Self::on_thread(url, |client| {
            client.batch_execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        });
    }

    /// The first column of the one row `sql` returns, as text.
    pub fn query_one_text(url: &PgUrl, sql: &str) -> String {
        Self::on_thread(url, |client| client.query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).get(0))
    }

    /// The blocking client must run off the async runtime.
    fn on_thread<T: Send>(url: &PgUrl, f: impl FnOnce(&mut postgres::Client) -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut client = postgres::Client::connect(url.secret(), postgres::NoTls)
                    .unwrap_or_else(|e| panic!("connecting to {}: {e}", url.shown()));
                f(&mut client)
            })
            .join()
            .unwrap_or_else(|_| panic!("a statement on {} failed", url.shown()))
        })
    }
}

impl Default for TestPg {
    fn default() -> Self {
        TestPg::new()
    }
}
