//! Digest `Authorization` values from arbitrary bytes: parsing never panics and accepts nothing
//! without the required parameters; whatever parses can be verified without panicking and is
//! refused (its nonce is not ours); and its username, realm and uri — arbitrary text with quotes,
//! backslashes and line breaks — survive a real round trip: challenge with a genuine nonce,
//! respond, parse, verify is `Ok`, and the same answer for another method is refused. Challenge
//! values get the same treatment.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tonewall_sip::digest::{
    Authorization, Challenge, ClientSecret, Credentials, FailReason, NonceSource, NonceStatus, Verdict,
    challenge, respond, verify,
};

fuzz_target!(|data: &[u8]| {
    let value = String::from_utf8_lossy(data);
    let nonces = NonceSource::new([0x5a; 32]);
    let now = Duration::from_secs(1000);
    let _ = Challenge::parse(&value);
    let Ok(auth) = Authorization::parse(&value) else { return };
    assert!(value.to_ascii_lowercase().contains("digest"));
    assert_eq!(auth.qop.is_some(), auth.nc.is_some() && auth.cnonce.is_some());

    let creds = Credentials::from_password(&auth.username, &auth.realm, "pw");
    let verdict = verify(&auth, &creds, "INVITE", &nonces, now);
    if nonces.check(&auth.nonce, now) == NonceStatus::Forged {
        assert_eq!(verdict, Verdict::Failed(FailReason::ForgedNonce));
    }

    let nonce = nonces.nonce(now, [1; 8]);
    let challenge_value = challenge(&auth.realm, &nonce, auth.algorithm, false);
    let parsed = Challenge::parse(&challenge_value).expect("our own challenge parses");
    assert_eq!((parsed.realm.as_ref(), parsed.nonce.as_ref()), (auth.realm.as_ref(), nonce.as_str()));
    let cnonce = auth.cnonce.as_deref().unwrap_or("c");
    let answer = respond(&challenge_value, ClientSecret::Credentials(&creds), "INVITE", &auth.uri, cnonce, 7)
        .expect("credentials answer a challenge for their realm");
    let back = Authorization::parse(&answer).expect("our own answer parses");
    assert_eq!((&back.username, &back.realm, &back.uri), (&auth.username, &auth.realm, &auth.uri));
    assert_eq!(back.algorithm, auth.algorithm);
    assert_eq!(verify(&back, &creds, "INVITE", &nonces, now), Verdict::Ok);
    assert_eq!(verify(&back, &creds, "BYE", &nonces, now), Verdict::Failed(FailReason::WrongResponse));
});
