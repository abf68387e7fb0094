#![allow(clippy::unwrap_used)]

use super::*;

const SECRET: [u8; 32] = [7; 32];
const REALM: &str = "tonewall.example";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// RFC 7616 §3.9.1: the same request answered with MD5 and with SHA-256.
const RFC7616_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const RFC7616_OPAQUE: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";
const RFC7616_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

fn rfc7616_challenge(algorithm: &str) -> String {
    format!(
        "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm={algorithm}, \
         nonce=\"{RFC7616_NONCE}\", opaque=\"{RFC7616_OPAQUE}\""
    )
}

#[test]
fn rfc7616_vectors_md5_and_sha256() {
    for (algorithm, expected) in [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ] {
        let secret = ClientSecret::Password { user: "Mufasa", password: "Circle of Life" };
        let value =
            respond(&rfc7616_challenge(algorithm), secret, "GET", "/dir/index.html", RFC7616_CNONCE, 1)
                .unwrap();
        let auth = Authorization::parse(&value).unwrap();
        assert_eq!(auth.response, expected, "{algorithm}");
        assert_eq!(auth.algorithm.as_str(), algorithm);
        assert_eq!(auth.nc.as_deref(), Some("00000001"));
        assert_eq!(auth.cnonce.as_deref(), Some(RFC7616_CNONCE));
        assert_eq!(auth.opaque.as_deref(), Some(RFC7616_OPAQUE));
        assert_eq!(auth.qop, Some(Qop::Auth));
    }
}

#[test]
fn rfc2617_vector_md5_qop_auth() {
    // RFC 2617 §3.5 (note the capital O in this RFC's password).
    let challenge = "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
                     nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
    let secret = ClientSecret::Password { user: "Mufasa", password: "Circle Of Life" };
    let value = respond(challenge, secret, "GET", "/dir/index.html", "0a4f113b", 1).unwrap();
    let auth = Authorization::parse(&value).unwrap();
    assert_eq!(auth.response, "6629fae49393a05397450978507c4ef1");
    assert_eq!(auth.algorithm, Algorithm::Md5, "no algorithm in the challenge means MD5");
}

#[test]
fn rfc2617_authorization_header_parses_and_matches() {
    // The header exactly as printed in RFC 2617 §3.5, with its line folding.
    let value = "Digest username=\"Mufasa\",\r\n                 realm=\"testrealm@host.com\",\r\n\
                 \t nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n uri=\"/dir/index.html\",\r\n \
                 qop=auth,\r\n nc=00000001,\r\n cnonce=\"0a4f113b\",\r\n \
                 response=\"6629fae49393a05397450978507c4ef1\",\r\n opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
    let auth = Authorization::parse(value).unwrap();
    assert_eq!(auth.username, "Mufasa");
    assert_eq!(auth.uri, "/dir/index.html");
    let creds = Credentials::from_password("Mufasa", "testrealm@host.com", "Circle Of Life");
    let ha1 = creds.ha1(Algorithm::Md5).unwrap();
    let digest =
        request_digest(Algorithm::Md5, &ha1, &auth.nonce, Some(("00000001", "0a4f113b")), "GET", &auth.uri);
    assert!(ct_eq_hex(digest.as_bytes(), auth.response.as_bytes()));
}

#[test]
fn ha1_matches_from_password_and_from_hex() {
    let a = Credentials::from_password("Mufasa", "http-auth@example.org", "Circle of Life");
    let md5 = a.ha1(Algorithm::Md5).unwrap().as_str().to_owned();
    let sha = a.ha1(Algorithm::Sha256).unwrap().as_str().to_owned();
    let b = Credentials::from_ha1("Mufasa", "http-auth@example.org", Some(&md5.to_uppercase()), Some(&sha))
        .unwrap();
    assert_eq!(b.ha1(Algorithm::Md5).unwrap().as_str(), md5);
    assert_eq!(b.ha1(Algorithm::Sha256).unwrap().as_str(), sha);
    assert!(b.supports(Algorithm::Md5) && b.supports(Algorithm::Sha256));
    let md5_only = Credentials::from_ha1("Mufasa", "http-auth@example.org", Some(&md5), None).unwrap();
    assert!(md5_only.supports(Algorithm::Md5) && !md5_only.supports(Algorithm::Sha256));
    assert_eq!(Credentials::from_ha1("u", "r", None, None).unwrap_err(), DigestError::NoHa1);
    assert_eq!(Credentials::from_ha1("u", "r", Some("abc"), None).unwrap_err(), DigestError::BadHa1);
    assert_eq!(Credentials::from_ha1("u", "r", None, Some(&md5)).unwrap_err(), DigestError::BadHa1);
}

#[test]
fn debug_never_shows_secrets() {
    let creds = Credentials::from_password("alice", REALM, "hunter2");
    let ha1 = creds.ha1(Algorithm::Md5).unwrap().as_str().to_owned();
    let shown = format!("{creds:?}");
    assert!(shown.contains("alice") && !shown.contains(&ha1[..8]) && !shown.contains("hunter2"), "{shown}");
    let secret = ClientSecret::Password { user: "alice", password: "hunter2" };
    assert!(!format!("{secret:?}").contains("hunter2"));
    let nonces = NonceSource::new(SECRET);
    let value = respond(
        &challenge(REALM, &nonces.nonce(secs(1), [0; 8]), Algorithm::Md5, false),
        secret,
        "REGISTER",
        "sip:x",
        "c",
        1,
    )
    .unwrap();
    let auth = Authorization::parse(&value).unwrap();
    assert!(!format!("{auth:?}").contains(&*auth.response));
}

fn answer(nonce: &str, algorithm: Algorithm, password: &str) -> String {
    let secret = ClientSecret::Password { user: "alice", password };
    respond(&challenge(REALM, nonce, algorithm, false), secret, "INVITE", "sip:bob@example.com", "xyz", 1)
        .unwrap()
}

#[test]
fn round_trip_both_algorithms() {
    let nonces = NonceSource::new(SECRET);
    let creds = Credentials::from_password("alice", REALM, "secret");
    for algorithm in [Algorithm::Sha256, Algorithm::Md5] {
        let nonce = nonces.nonce(secs(10), [1; 8]);
        let value = answer(&nonce, algorithm, "secret");
        let auth = Authorization::parse(&value).unwrap();
        assert_eq!(auth.algorithm, algorithm);
        assert_eq!(verify(&auth, &creds, "INVITE", &nonces, secs(11)), Verdict::Ok);
        assert_eq!(
            verify(&auth, &creds, "BYE", &nonces, secs(11)),
            Verdict::Failed(FailReason::WrongResponse),
            "the method is covered"
        );
    }
}

#[test]
fn round_trip_with_stored_ha1_and_rfc2069_mode() {
    let nonces = NonceSource::new(SECRET);
    let stored = Credentials::from_password("alice", REALM, "secret");
    let md5 = stored.ha1(Algorithm::Md5).unwrap().as_str().to_owned();
    let md5_only = Credentials::from_ha1("alice", REALM, Some(&md5), None).unwrap();
    // A challenge without qop: the answer has no qop/nc/cnonce (RFC 2069).
    let ch = format!("Digest realm=\"{REALM}\", nonce=\"{}\"", nonces.nonce(secs(0), [2; 8]));
    let value =
        respond(&ch, ClientSecret::Credentials(&md5_only), "REGISTER", "sip:tonewall.example", "c", 1)
            .unwrap();
    assert!(!value.contains("qop") && !value.contains("cnonce"), "{value}");
    let auth = Authorization::parse(&value).unwrap();
    assert_eq!(auth.qop, None);
    assert_eq!(verify(&auth, &stored, "REGISTER", &nonces, secs(1)), Verdict::Ok);

    let sha_ch = challenge(REALM, &nonces.nonce(secs(0), [2; 8]), Algorithm::Sha256, false);
    assert_eq!(
        respond(&sha_ch, ClientSecret::Credentials(&md5_only), "REGISTER", "sip:x", "c", 1),
        Err(DigestError::NoCredentialsForAlgorithm)
    );
    let value = answer(&nonces.nonce(secs(0), [2; 8]), Algorithm::Sha256, "secret");
    let auth = Authorization::parse(&value).unwrap();
    assert_eq!(
        verify(&auth, &md5_only, "INVITE", &nonces, secs(1)),
        Verdict::Failed(FailReason::NoCredentialsForAlgorithm)
    );
    let other_realm = Credentials::from_password("alice", "elsewhere", "secret");
    assert_eq!(
        respond(&sha_ch, ClientSecret::Credentials(&other_realm), "REGISTER", "sip:x", "c", 1),
        Err(DigestError::RealmMismatch)
    );
}

#[test]
fn wrong_password_user_or_realm_fails() {
    let nonces = NonceSource::new(SECRET);
    let creds = Credentials::from_password("alice", REALM, "secret");
    let nonce = nonces.nonce(secs(0), [3; 8]);
    let auth_value = answer(&nonce, Algorithm::Sha256, "guess");
    let auth = Authorization::parse(&auth_value).unwrap();
    assert_eq!(verify(&auth, &creds, "INVITE", &nonces, secs(1)), Verdict::Failed(FailReason::WrongResponse));

    let bob = Credentials::from_password("bob", REALM, "secret");
    assert_eq!(verify(&auth, &bob, "INVITE", &nonces, secs(1)), Verdict::Failed(FailReason::WrongUser));
    let elsewhere = Credentials::from_password("alice", "elsewhere", "secret");
    assert_eq!(
        verify(&auth, &elsewhere, "INVITE", &nonces, secs(1)),
        Verdict::Failed(FailReason::WrongRealm)
    );
}

#[test]
fn tampered_response_fails_either_case_accepted() {
    let nonces = NonceSource::new(SECRET);
    let creds = Credentials::from_password("alice", REALM, "secret");
    let value = answer(&nonces.nonce(secs(0), [4; 8]), Algorithm::Md5, "secret");
    let upper = Authorization::parse(&value).unwrap().response.to_uppercase();
    let mut auth = Authorization::parse(&value).unwrap();
    auth.response = Cow::Owned(upper);
    assert_eq!(verify(&auth, &creds, "INVITE", &nonces, secs(1)), Verdict::Ok, "hex case does not matter");
    let mut flipped = auth.response.to_string().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    auth.response = Cow::Owned(String::from_utf8(flipped).unwrap());
    assert_eq!(verify(&auth, &creds, "INVITE", &nonces, secs(1)), Verdict::Failed(FailReason::WrongResponse));
}

#[test]
fn nonce_goes_stale_on_virtual_time() {
    let nonces = NonceSource::new(SECRET);
    let nonce = nonces.nonce(secs(1000), [5; 8]);
    assert_eq!(nonces.check(&nonce, secs(1000)), NonceStatus::Valid);
    assert_eq!(nonces.check(&nonce, secs(1300)), NonceStatus::Valid, "exactly the lifetime is still valid");
    assert_eq!(nonces.check(&nonce, secs(1300) + Duration::from_millis(1)), NonceStatus::Stale);
    assert_eq!(nonces.check(&nonce, secs(999)), NonceStatus::Stale, "issued in the future: another epoch");

    let short = NonceSource::new(SECRET).with_lifetime(secs(30));
    assert_eq!(short.check(&nonce, secs(1031)), NonceStatus::Stale);
}

#[test]
fn replayed_nonce_older_than_lifetime_is_stale_only_with_the_right_password() {
    let nonces = NonceSource::new(SECRET);
    let creds = Credentials::from_password("alice", REALM, "secret");
    let nonce = nonces.nonce(secs(0), [6; 8]);
    let good = answer(&nonce, Algorithm::Sha256, "secret");
    let auth = Authorization::parse(&good).unwrap();
    assert_eq!(verify(&auth, &creds, "INVITE", &nonces, secs(60)), Verdict::Ok);
    assert_eq!(verify(&auth, &creds, "INVITE", &nonces, secs(301)), Verdict::Stale, "replay after lifetime");
    let bad = answer(&nonce, Algorithm::Sha256, "guess");
    let auth = Authorization::parse(&bad).unwrap();
    assert_eq!(
        verify(&auth, &creds, "INVITE", &nonces, secs(301)),
        Verdict::Failed(FailReason::WrongResponse),
        "stale=true only for clients that know the password"
    );
}

#[test]
fn forged_nonces_are_recognised() {
    let nonces = NonceSource::new(SECRET);
    let nonce = nonces.nonce(secs(0), [7; 8]);
    assert_eq!(NonceSource::new([8; 32]).check(&nonce, secs(0)), NonceStatus::Forged, "other secret");
    // Pushing the issue time forward (to dodge staleness) breaks the signature.
    let mut later = nonce.clone().into_bytes();
    later[15] = if later[15] == b'f' { b'e' } else { b'f' };
    assert_eq!(nonces.check(std::str::from_utf8(&later).unwrap(), secs(0)), NonceStatus::Forged);
    for junk in ["", "abc", &nonce[..62], &format!("{nonce}00"), &nonce.replace('a', "g")] {
        assert_eq!(nonces.check(junk, secs(0)), NonceStatus::Forged, "{junk:?}");
    }
    assert_ne!(nonces.nonce(secs(0), [1; 8]), nonces.nonce(secs(0), [2; 8]), "salt varies the nonce");

    let creds = Credentials::from_password("alice", REALM, "secret");
    let value = answer("dcd98b7102dd2f0e8b11d0f600bfb0c093", Algorithm::Md5, "secret");
    let auth = Authorization::parse(&value).unwrap();
    assert_eq!(verify(&auth, &creds, "INVITE", &nonces, secs(0)), Verdict::Failed(FailReason::ForgedNonce));
}

#[test]
fn challenge_values() {
    assert_eq!(
        challenge("a \"b\" \\c", "n1", Algorithm::Sha256, false),
        r#"Digest realm="a \"b\" \\c", nonce="n1", algorithm=SHA-256, qop="auth""#
    );
    let [first, second] = challenges(REALM, "n2", true);
    assert_eq!(
        first,
        format!(r#"Digest realm="{REALM}", nonce="n2", algorithm=SHA-256, qop="auth", stale=true"#)
    );
    assert_eq!(
        second,
        format!(r#"Digest realm="{REALM}", nonce="n2", algorithm=MD5, qop="auth", stale=true"#)
    );
    let parsed = Challenge::parse(&first).unwrap();
    assert_eq!(
        (parsed.realm.as_ref(), parsed.nonce.as_ref(), parsed.algorithm, parsed.qop, parsed.stale),
        (REALM, "n2", Algorithm::Sha256, Some(Qop::Auth), true)
    );
    let value = challenge("a \"b\" \\c", "n", Algorithm::Md5, false);
    let escaped = Challenge::parse(&value).unwrap();
    assert_eq!(escaped.realm, "a \"b\" \\c", "quoting round-trips");
    assert_eq!(
        challenge("r\r\nVia: x\t", "n", Algorithm::Md5, false),
        "Digest realm=\"rVia: x\t\", nonce=\"n\", algorithm=MD5, qop=\"auth\"",
        "no header injection through a value"
    );
}

#[test]
fn algorithm_tokens() {
    assert_eq!("md5".parse(), Ok(Algorithm::Md5));
    assert_eq!("sha-256".parse(), Ok(Algorithm::Sha256));
    for bad in ["MD5-sess", "SHA-256-sess", "SHA-512-256", "", "SHA256"] {
        assert_eq!(bad.parse::<Algorithm>(), Err(DigestError::UnsupportedAlgorithm), "{bad}");
    }
    let ch = r#"Digest realm="r", nonce="n", algorithm=MD5-sess, qop="auth""#;
    assert_eq!(Challenge::parse(ch), Err(DigestError::UnsupportedAlgorithm));
    assert_eq!(
        Challenge::parse(r#"Digest realm="r", nonce="n", qop="auth-int""#),
        Err(DigestError::UnsupportedQop)
    );
}

const R32: &str = "0123456789abcdef0123456789abcdef";

fn header(extra: &str) -> String {
    format!(r#"Digest username="alice", realm="r", nonce="n", uri="sip:x", response="{R32}"{extra}"#)
}

#[test]
fn parser_accepts_lenient_spellings() {
    let v = format!(
        "  dIgEsT\tUserName = \"al\\\"ice\\\\\" ,REALM=r,nonce=\"n\",uri=\"sip:x\",\r\n response={R32}, \
         future-param=\"x, y\", another=token, qop=AUTH, nc=0000000A, cnonce=\"c\\d\"  "
    );
    let auth = Authorization::parse(&v).unwrap();
    assert_eq!(auth.username, "al\"ice\\", "backslash escapes are undone");
    assert_eq!(auth.realm, "r");
    assert_eq!(auth.cnonce.as_deref(), Some("cd"));
    assert_eq!(auth.nc.as_deref(), Some("0000000A"), "nc is kept as sent: it is hashed as text");
    assert_eq!(auth.algorithm, Algorithm::Md5);
    assert!(matches!(auth.username, Cow::Owned(_)) && matches!(auth.realm, Cow::Borrowed(_)));
    assert!(Authorization::parse(&header("")).is_ok());
    assert!(Authorization::parse(&header(r#", realm2="", opaque="""#)).is_ok(), "empty quoted strings");
}

#[test]
fn parser_rejects_garbage_with_typed_errors() {
    use DigestError::*;
    let sha = "0".repeat(64);
    let cases: Vec<(String, DigestError)> = vec![
        (String::new(), NotDigest),
        ("Basic dXNlcjpwYXNz".into(), NotDigest),
        ("Digestusername=\"a\"".into(), NotDigest),
        ("Digest".into(), Syntax { offset: 6 }),
        ("Digest ".into(), Syntax { offset: 7 }),
        (header(","), Syntax { offset: header(",").len() }),
        (header(",, x=y"), Syntax { offset: header("").len() + 1 }),
        (header(", x"), Syntax { offset: header("").len() + 3 }),
        (header(", x="), Syntax { offset: header("").len() + 4 }),
        (header(r#", x="open"#), Syntax { offset: header("").len() + 4 }),
        (header(r#", x="\"#), Syntax { offset: header("").len() + 5 }),
        (header(", x=\"\\é\""), Syntax { offset: header("").len() + 6 }),
        (header(" junk"), Syntax { offset: header("").len() + 1 }),
        (header(", x=a b"), Syntax { offset: header("").len() + 6 }),
        (header(r#", x="a"b"#), Syntax { offset: header("").len() + 7 }),
        (header(", x=\"a\r\nVia: evil\""), Syntax { offset: header("").len() + 6 }),
        (header(", x=\"a\\\n\""), Syntax { offset: header("").len() + 7 }),
        (header(", x=\"\0\""), Syntax { offset: header("").len() + 5 }),
        (header(r#", USERNAME="bob""#), DuplicateParam),
        (header(", x=1, X=2"), DuplicateParam),
        (header(", algorithm=MD5-sess"), UnsupportedAlgorithm),
        (header(", algorithm=SHA-256"), BadResponse),
        (header(", qop=auth-int, nc=00000001, cnonce=c"), UnsupportedQop),
        (header(", qop=auth, cnonce=c"), MissingParam("nc")),
        (header(", qop=auth, nc=00000001"), MissingParam("cnonce")),
        (header(", qop=auth, nc=1, cnonce=c"), BadNonceCount),
        (header(", qop=auth, nc=0000000g, cnonce=c"), BadNonceCount),
        (r#"Digest realm="r", nonce="n", uri="u", response="x""#.into(), MissingParam("username")),
        (r#"Digest username="a", realm="r", nonce="n", uri="u""#.into(), MissingParam("response")),
        (r#"Digest username="a", realm="r", nonce="n", uri="u", response="xyz""#.into(), BadResponse),
        (
            format!("Digest {}", (0..40).map(|i| format!("p{i}=v")).collect::<Vec<_>>().join(",")),
            TooManyParams,
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(Authorization::parse(&value).err(), Some(expected), "{value:?}");
    }
    let sha256 =
        format!(r#"Digest username="a", realm="r", nonce="n", uri="u", response="{sha}", algorithm=SHA-256"#);
    assert!(Authorization::parse(&sha256).is_ok(), "a 64-digit response fits SHA-256");
}

#[test]
fn parser_never_panics_on_prefixes_and_byte_soup() {
    let full = format!(
        "Digest username=\"a\\\"b\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"{R32}\", \
         qop=auth, nc=00000001, cnonce=\"é\", opaque=\"o\""
    );
    let nonces = NonceSource::new(SECRET);
    let creds = Credentials::from_password("a\"b", "r", "p");
    for end in (0..=full.len()).filter(|&i| full.is_char_boundary(i)) {
        if let Ok(auth) = Authorization::parse(&full[..end]) {
            let _ = verify(&auth, &creds, "INVITE", &nonces, secs(0));
        }
    }
    let mut x: u32 = 1;
    for _ in 0..2000 {
        let bytes: Vec<u8> = (0..40)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let alphabet = b"Digest =,\"\\ \tar0";
                alphabet[x as usize % alphabet.len()]
            })
            .collect();
        let s = String::from_utf8(bytes).unwrap();
        let _ = Authorization::parse(&s);
        let _ = Challenge::parse(&s);
    }
}
