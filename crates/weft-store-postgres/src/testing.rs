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
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut client = postgres::Client::connect(&self.admin_url, postgres::NoTls)
                    .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.admin_url));
                client
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .unwrap_or_else(|e| panic!("CREATE DATABASE: {e}"));
            })
            .join()
            .unwrap_or_else(|_| panic!("creating database {name} failed"));
        });
        let base = self.admin_url.rsplit_once('/').map_or(self.admin_url.as_str(), |(base, _)| base);
        PgUrl::parse(&format!("{base}/{name}")).unwrap_or_else(|e| panic!("test URL: {e}"))
    }
}

impl Default for TestPg {
    fn default() -> Self {
        TestPg::new()
    }
}
