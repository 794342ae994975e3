use super::*;
use prost::Message;

const A: &str = "weft_0000000000000000000000000000000000000000000000000000000000000001";
const B: &str = "weft_0000000000000000000000000000000000000000000000000000000000000002";

fn file(lines: &[(&str, &str, &str)]) -> String {
    let mut text = String::from("# tokens of the test cluster\n\n");
    for (token, name, roles) in lines {
        text.push_str(&format!("sha256:{} {name} {roles}   # {name}'s token\n", to_hex(&hash_token(token))));
    }
    text
}

fn auth(text: &str) -> Authenticator {
    Authenticator::new(Tokens::parse(text).unwrap(), |_| {})
}

#[test]
fn hashing_is_sha256_and_hex_round_trips() {
    // SHA-256 of "abc", from FIPS 180-2.
    assert_eq!(to_hex(&hash_token("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    let bytes = random_bytes::<32>();
    assert_eq!(from_hex::<32>(&to_hex(&bytes)), Some(bytes));
    assert_eq!(from_hex::<2>("ABcd"), Some([0xab, 0xcd]));
    assert_eq!(from_hex::<2>("abc"), None);
    assert_eq!(from_hex::<2>("abcg"), None);
    assert_ne!(random_bytes::<32>(), bytes, "two draws differ");
}

#[test]
fn a_new_token_is_accepted_by_the_line_printed_for_it() {
    let made = new_token("ci-bot", Roles::parse("submit,read").unwrap()).unwrap();
    assert!(made.token.starts_with(TOKEN_PREFIX) && made.token.len() == TOKEN_PREFIX.len() + 64);
    assert!(made.line.starts_with("sha256:") && made.line.ends_with(" ci-bot submit,read"), "{}", made.line);
    assert!(!made.line.contains(&made.token[TOKEN_PREFIX.len()..]), "the line holds no plain token");
    assert!(!format!("{made:?}").contains(&made.token), "Debug hides the token");
    let tokens = Tokens::parse(&made.line).unwrap();
    let entry = tokens.authenticate(&made.token).expect("accepted");
    assert_eq!(&*entry.name, "ci-bot");
    assert_eq!(entry.roles, Roles::new([Role::Submit, Role::Read]));
    assert!(tokens.authenticate(&made.token[1..]).is_none());
    assert_ne!(new_token("ci-bot", entry.roles).unwrap().token, made.token);
    assert!(new_token("bad name", entry.roles).is_err());
    assert!(new_token("x", Roles::default()).is_err());
}

#[test]
fn the_tokens_file_accepts_comments_and_role_lists_and_names_the_bad_line() {
    let text = file(&[(A, "alice", "submit,read"), (B, "worker-1", "worker")]);
    let tokens = Tokens::parse(&text).unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(&*tokens.authenticate(A).unwrap().name, "alice");
    assert_eq!(&*tokens.authenticate(B).unwrap().name, "worker-1");
    assert!(tokens.authenticate("weft_nope").is_none());
    // Roles separated by spaces work too.
    let spaced = Tokens::parse(&file(&[(A, "ops", "admin worker")])).unwrap();
    assert_eq!(spaced.authenticate(A).unwrap().roles, Roles::new([Role::Admin, Role::Worker]));

    let hash = to_hex(&hash_token(A));
    let error = |text: &str| Tokens::parse(text).unwrap_err();
    assert!(error(&format!("# c\n{A} alice read")).starts_with("line 2: the hash must start with `sha256:`"));
    assert!(error(&format!("sha256:{} alice read", &hash[1..])).contains("64 hex digits"));
    assert!(error(&format!("sha256:{hash} alice")).starts_with("line 1: no roles"));
    assert!(error(&format!("sha256:{hash} alice reader")).contains("unknown role `reader`"));
    assert!(error(&format!("sha256:{hash} al/ice read")).contains("has `/`"));
    assert!(error(&format!("sha256:{hash}")).starts_with("line 1: expected"));
    let twice = format!("sha256:{hash} a read\nsha256:{} a read", to_hex(&hash_token(B)));
    assert!(error(&twice).starts_with("line 2: the name `a` is used twice"));
    assert!(error(&format!("sha256:{hash} a read\nsha256:{hash} b read")).contains("hash is listed twice"));
    assert!(error("# nothing\n\n").starts_with("no tokens"));
}

#[test]
fn loading_a_file_names_it() {
    let dir = std::env::temp_dir().join(format!("weft-net-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tokens");
    std::fs::write(&path, file(&[(A, "alice", "read")])).unwrap();
    assert_eq!(Tokens::load(&path).unwrap().len(), 1);
    std::fs::write(&path, "sha256:00 alice read\n").unwrap();
    let e = Tokens::load(&path).unwrap_err().to_string();
    assert!(e.starts_with(&path.display().to_string()) && e.contains("line 1"), "{e}");
    assert!(Tokens::load(&dir.join("missing")).unwrap_err().to_string().contains("cannot read"));
    std::fs::write(&path, format!("  {A}  \nsecond line\n")).unwrap();
    assert_eq!(read_token_file(&path).unwrap(), A);
    std::fs::write(&path, "\n").unwrap();
    assert!(read_token_file(&path).unwrap_err().contains("holds no token"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn admin_implies_submit_and_read_but_not_worker() {
    let admin = Roles::new([Role::Admin]);
    assert!(admin.grants(Role::Submit) && admin.grants(Role::Read) && admin.grants(Role::Admin));
    assert!(!admin.grants(Role::Worker));
    let worker = Roles::new([Role::Worker]);
    assert!(worker.grants(Role::Worker));
    assert!(!worker.grants(Role::Read) && !worker.grants(Role::Submit) && !worker.grants(Role::Admin));
    let submit = Roles::new([Role::Submit]);
    assert!(!submit.grants(Role::Read), "submitting does not imply reading");
    assert_eq!(Roles::new(Role::ALL).to_string(), "submit,read,admin,worker");
}

#[test]
fn every_method_of_the_api_has_a_role_in_the_table() {
    let set = prost_types::FileDescriptorSet::decode(weft_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut paths = Vec::new();
    for file in &set.file {
        for service in &file.service {
            for method in &service.method {
                paths.push(format!("/{}.{}/{}", file.package(), service.name(), method.name()));
            }
        }
    }
    assert!(paths.len() >= 15, "{paths:?}");
    for path in &paths {
        assert!(METHODS.iter().any(|(m, _)| m == path), "{path} is missing from auth::METHODS");
    }
    for (method, _) in METHODS {
        assert!(paths.contains(&method.to_string()), "{method} in auth::METHODS is not a method of the API");
    }
}

#[test]
fn the_method_table_gives_each_method_its_role() {
    let needs = |path| match access(path) {
        Access::Needs(role) => role,
        Access::Open => panic!("{path} is open"),
    };
    assert_eq!(needs("/weft.v1.WorkflowService/StartRun"), Role::Submit);
    assert_eq!(needs("/weft.v1.WorkflowService/RegisterDefinition"), Role::Submit);
    assert_eq!(needs("/weft.v1.WorkflowService/GetRun"), Role::Read);
    assert_eq!(needs("/weft.v1.WorkflowService/WatchRun"), Role::Read);
    assert_eq!(needs("/weft.v1.MonitorService/GetClusterStatus"), Role::Read);
    assert_eq!(needs("/weft.v1.WorkflowService/CancelRun"), Role::Admin);
    assert_eq!(needs("/weft.v1.MonitorService/ListQuarantined"), Role::Admin);
    assert_eq!(needs("/weft.v1.WorkerService/Session"), Role::Worker);
    assert_eq!(needs("/weft.v1.MonitorService/Report"), Role::Worker);
    // Fail closed: what the table does not know needs admin.
    assert_eq!(needs("/weft.v1.WorkflowService/DeleteEverything"), Role::Admin);
    assert_eq!(needs("/weft.v1.WorkflowService/StartRun/"), Role::Admin);
    assert_eq!(access("/grpc.health.v1.Health/Check"), Access::Open);
    assert_eq!(access("/grpc.health.v1.Health/Watch"), Access::Open);
    assert_eq!(access("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"), Access::Open);
    assert_eq!(access("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"), Access::Open);
}

#[test]
fn checks_give_unauthenticated_or_permission_denied() {
    let auth = auth(&file(&[(A, "reader", "read"), (B, "ops", "admin")]));
    let start = "/weft.v1.WorkflowService/StartRun";
    let header = |token: &str| format!("Bearer {token}").into_bytes();
    let refused = |path, header: Option<&[u8]>| auth.check(path, header).unwrap_err();

    let missing = refused(start, None);
    assert_eq!((missing.failure, missing.status.code()), (Failure::MissingToken, tonic::Code::Unauthenticated));
    for bad in [&b"Bearer weft_wrong"[..], b"Basic abc", b"Bearer", A.as_bytes(), b"\xff\xfe"] {
        let r = refused(start, Some(bad));
        assert_eq!((r.failure, r.status.code()), (Failure::BadToken, tonic::Code::Unauthenticated));
        assert!(r.token.is_none());
    }
    let denied = refused(start, Some(&header(A)));
    assert_eq!((denied.failure, denied.status.code()), (Failure::MissingRole, tonic::Code::PermissionDenied));
    assert_eq!(denied.token.as_deref(), Some("reader"));
    assert!(denied.status.message().contains("`submit`"), "{}", denied.status.message());
    assert!(!denied.status.message().contains(A), "the token is never echoed");

    let reader = auth.check("/weft.v1.WorkflowService/GetRun", Some(&header(A))).unwrap().unwrap();
    assert_eq!(&*reader.name, "reader");
    // The scheme is case-insensitive; the admin token submits too.
    assert!(auth.check(start, Some(format!("bearer  {B}").as_bytes())).unwrap().is_some());
    assert!(refused("/weft.v1.WorkerService/Session", Some(&header(B))).failure == Failure::MissingRole);
    // Health and reflection need nothing.
    assert!(auth.check("/grpc.health.v1.Health/Check", None).unwrap().is_none());
}

#[test]
fn the_client_interceptor_sends_the_token_as_a_sensitive_header() {
    use tonic::service::Interceptor;
    let mut bearer = Bearer::new(Some(&format!(" {A}\n"))).unwrap();
    let request = bearer.call(tonic::Request::new(())).unwrap();
    let value = request.metadata().get("authorization").unwrap();
    assert_eq!(value.to_str().unwrap(), format!("Bearer {A}"));
    assert!(value.is_sensitive());
    assert!(!format!("{bearer:?}").contains(A));
    let mut none = Bearer::new(None).unwrap();
    assert!(none.call(tonic::Request::new(())).unwrap().metadata().get("authorization").is_none());
    assert!(Bearer::new(Some("  ")).is_err());
    assert!(Bearer::new(Some("a\u{7f}b")).is_err());
}
