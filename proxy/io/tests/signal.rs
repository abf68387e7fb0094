//! The SIP transports over real sockets on 127.0.0.1 and ::1: UDP, TCP and TLS, both directions.
#![allow(clippy::unwrap_used)]

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};
use tonewall_io::signal::{self, Inbound, Outbound, SignalConfig, SignalHandle, Transport};
use tonewall_sip::framing::{Frame, StreamFramer};

const WAIT: Duration = Duration::from_secs(5);
const V4: &str = "127.0.0.1:0";
const V6: &str = "[::1]:0";

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A small SIP message whose Call-ID is `tag` and whose body is `body`.
fn sip(tag: &str, body: &str) -> Vec<u8> {
    format!(
        "MESSAGE sip:agent@example.com SIP/2.0\r\nCall-ID: {tag}\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn start(config: SignalConfig) -> (SignalHandle, Receiver<Inbound>) {
    signal::start(config).unwrap()
}

/// The bound address of the listener of `transport` in the family of `like`.
fn bound(handle: &SignalHandle, transport: Transport, like: &str) -> SocketAddr {
    let v6 = addr(like).is_ipv6();
    handle.local_addrs().into_iter().find(|&(t, a)| t == transport && a.is_ipv6() == v6).unwrap().1
}

fn recv(rx: &Receiver<Inbound>) -> Inbound {
    rx.recv_timeout(WAIT).expect("an inbound message within 5 s")
}

fn assert_quiet(rx: &Receiver<Inbound>) {
    if let Ok(m) = rx.recv_timeout(Duration::from_millis(200)) {
        panic!("unexpected inbound {m:?}");
    }
}

/// Reads one framed message from a blocking stream.
fn read_message(stream: &mut impl Read, framer: &mut StreamFramer) -> Vec<u8> {
    let mut buf = [0u8; 4096];
    loop {
        match framer.next() {
            Some(Ok(Frame::Message(m))) => return m,
            Some(other) => panic!("expected a message, got {other:?}"),
            None => {}
        }
        let n = stream.read(&mut buf).expect("read");
        assert!(n > 0, "connection closed before a whole message");
        framer.push(&buf[..n]);
    }
}

/// True once the peer has closed the stream (EOF or reset) within 5 s; data before it is skipped.
fn closes(stream: &mut impl Read) -> bool {
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return false,
            Err(_) => return true,
        }
    }
    false
}

fn connect(to: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(to).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(name: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(data(name)).unwrap().collect::<Result<_, _>>().unwrap()
}

fn key(name: &str) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(data(name)).unwrap()
}

fn client_config(with_cert: bool) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(certs("ca.pem"));
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    Arc::new(if with_cert {
        builder.with_client_auth_cert(certs("client.pem"), key("client.key")).unwrap()
    } else {
        builder.with_no_client_auth()
    })
}

type TlsClient = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls_connect(to: SocketAddr, name: &str, with_cert: bool) -> TlsClient {
    let name = ServerName::try_from(name.to_string()).unwrap();
    let conn = rustls::ClientConnection::new(client_config(with_cert), name).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, connect(to));
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).expect("TLS handshake");
    }
    stream
}

fn tls_config() -> SignalConfig {
    SignalConfig {
        tls: vec![addr(V4), addr(V6)],
        tls_cert: Some(data("server.pem")),
        tls_key: Some(data("server.key")),
        ..SignalConfig::default()
    }
}

#[test]
fn udp_both_ways_on_v4_and_v6() {
    let (handle, rx) = start(SignalConfig { udp: vec![addr(V4), addr(V6)], ..SignalConfig::default() });
    for family in [V4, V6] {
        let server = bound(&handle, Transport::Udp, family);
        let client = UdpSocket::bind(family).unwrap();
        client.set_read_timeout(Some(WAIT)).unwrap();

        // Bare CRLF keep-alives are not messages: the first inbound is the real one.
        client.send_to(b"\r\n\r\n", server).unwrap();
        client.send_to(b"\r\n", server).unwrap();
        let request = sip("udp", "hello");
        client.send_to(&request, server).unwrap();
        let inbound = recv(&rx);
        assert_eq!(inbound.transport, Transport::Udp);
        assert_eq!(inbound.conn, None);
        assert_eq!(inbound.source, client.local_addr().unwrap());
        assert_eq!(inbound.local, server);
        assert_eq!(inbound.bytes, request);

        let response = sip("udp", "reply");
        handle.send(Outbound::reply_to(&inbound, response.clone()));
        let mut buf = [0u8; 2048];
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &response[..]);
        assert_eq!(from, server, "the reply leaves from the socket the request came in on");

        // With no local preference, the socket of the destination's family is used.
        handle.send(Outbound::new(Transport::Udp, client.local_addr().unwrap(), b"ping".to_vec()));
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"ping"[..], server));
    }
    assert_quiet(&rx);
    assert_eq!(handle.stats().received.load(Ordering::Relaxed), 2);
}

#[test]
fn udp_with_no_socket_of_the_family_counts_a_failure() {
    let (handle, _rx) = start(SignalConfig { udp: vec![addr(V4)], ..SignalConfig::default() });
    handle.send(Outbound::new(Transport::Udp, addr("[::1]:5060"), sip("x", "")));
    wait_for("the failure to be counted", || handle.stats().send_failures.load(Ordering::Relaxed) == 1);
}

#[test]
fn tcp_message_one_byte_at_a_time_and_two_pipelined() {
    let (handle, rx) = start(SignalConfig { tcp: vec![addr(V4), addr(V6)], ..SignalConfig::default() });
    for family in [V4, V6] {
        let server = bound(&handle, Transport::Tcp, family);
        let mut client = connect(server);
        let first = sip("one-byte", "split everywhere");
        for b in &first {
            client.write_all(std::slice::from_ref(b)).unwrap();
            std::thread::sleep(Duration::from_micros(200));
        }
        let inbound = recv(&rx);
        assert_eq!(inbound.bytes, first);
        assert_eq!(inbound.transport, Transport::Tcp);
        assert_eq!(inbound.source, client.local_addr().unwrap());
        assert_eq!(inbound.local, server);
        let conn = inbound.conn.expect("stream messages carry their connection");

        let (a, b) = (sip("pipelined-a", "first"), sip("pipelined-b", ""));
        client.write_all(&[&b"\r\n\r\n"[..], &a, &b].concat()).unwrap();
        let (ra, rb) = (recv(&rx), recv(&rx));
        assert_eq!((ra.bytes, rb.bytes), (a, b));
        assert_eq!((ra.conn, rb.conn), (Some(conn), Some(conn)));
    }
    assert_quiet(&rx);
}

#[test]
fn tcp_keepalive_ping_gets_a_crlf_pong() {
    let (handle, rx) = start(SignalConfig { tcp: vec![addr(V4)], ..SignalConfig::default() });
    let mut client = connect(bound(&handle, Transport::Tcp, V4));
    client.write_all(b"\r\n\r\n").unwrap();
    let mut pong = [0u8; 2];
    client.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"\r\n");
    // Exactly one CRLF, and the ping is not a message.
    client.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut more = [0u8; 16];
    let extra = client.read(&mut more);
    assert!(
        matches!(&extra, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "{extra:?}"
    );
    assert_quiet(&rx);
}

#[test]
fn tcp_unframeable_streams_are_closed_and_the_listener_goes_on() {
    let (handle, rx) =
        start(SignalConfig { tcp: vec![addr(V4)], max_message: 1024, ..SignalConfig::default() });
    let server = bound(&handle, Transport::Tcp, V4);

    // Declares a body past the limit: closed before the body is even sent.
    let mut oversize = connect(server);
    oversize.write_all(b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 5000\r\n\r\n").unwrap();
    assert!(closes(&mut oversize), "an oversize message closes the connection");

    // Headers that never end.
    let mut endless = connect(server);
    endless.write_all(&b"X-Pad: 0123456789\r\n".repeat(100)).unwrap();
    assert!(closes(&mut endless));

    // No Content-Length on a stream (RFC 3261 §18.3).
    let mut missing = connect(server);
    missing.write_all(b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n").unwrap();
    assert!(closes(&mut missing));

    assert_eq!(handle.stats().framing_errors.load(Ordering::Relaxed), 3);
    let mut fine = connect(server);
    fine.write_all(&sip("after", "still listening")).unwrap();
    assert_eq!(recv(&rx).bytes, sip("after", "still listening"));
}

#[test]
fn tcp_reply_goes_back_over_the_same_connection() {
    let (handle, rx) = start(SignalConfig { tcp: vec![addr(V4)], ..SignalConfig::default() });
    let server = bound(&handle, Transport::Tcp, V4);
    let mut a = connect(server);
    let mut b = connect(server);
    a.write_all(&sip("from-a", "")).unwrap();
    let from_a = recv(&rx);
    b.write_all(&sip("from-b", "")).unwrap();
    let from_b = recv(&rx);
    assert_ne!(from_a.conn, from_b.conn);

    // By connection id: to A only.
    handle.send(Outbound::reply_to(&from_a, sip("to-a", "by id")));
    let mut framer_a = StreamFramer::default();
    assert_eq!(read_message(&mut a, &mut framer_a), sip("to-a", "by id"));
    // The id wins over the address: a live connection is used whatever `dest` says.
    let mut by_id = Outbound::new(Transport::Tcp, addr("127.0.0.1:9"), sip("to-a", "id over dest"));
    by_id.conn = from_a.conn;
    handle.send(by_id);
    assert_eq!(read_message(&mut a, &mut framer_a), sip("to-a", "id over dest"));
    // Without an id, to B's address: B's accepted connection is reused, nothing is dialled.
    handle.send(Outbound::new(Transport::Tcp, from_b.source, sip("to-b", "by address")));
    assert_eq!(read_message(&mut b, &mut StreamFramer::default()), sip("to-b", "by address"));
    assert_eq!(handle.stats().dialled.load(Ordering::Relaxed), 0);
    assert_eq!(handle.stats().open_connections.load(Ordering::Relaxed), 2);
}

#[test]
fn tcp_dials_out_once_and_reuses_the_connection() {
    let (handle, rx) = start(SignalConfig::default());
    for family in [V4, V6] {
        let agent = TcpListener::bind(family).unwrap();
        let dest = agent.local_addr().unwrap();
        handle.send(Outbound::new(Transport::Tcp, dest, sip("invite", "first")));
        handle.send(Outbound::new(Transport::Tcp, dest, sip("invite", "second")));
        let (mut conn, _) = agent.accept().unwrap();
        conn.set_read_timeout(Some(WAIT)).unwrap();
        let mut framer = StreamFramer::default();
        assert_eq!(read_message(&mut conn, &mut framer), sip("invite", "first"));
        assert_eq!(read_message(&mut conn, &mut framer), sip("invite", "second"));

        // The agent answers on the dialled connection: it arrives with that connection's id.
        conn.write_all(&sip("200", "ok")).unwrap();
        let inbound = recv(&rx);
        assert_eq!((inbound.transport, inbound.source), (Transport::Tcp, dest));
        assert_eq!(inbound.local, conn.peer_addr().unwrap());
        assert_eq!(inbound.bytes, sip("200", "ok"));

        // A later send by id and by address both use it; no second connection is made.
        handle.send(Outbound::reply_to(&inbound, sip("ack", "by id")));
        handle.send(Outbound::new(Transport::Tcp, dest, sip("bye", "by address")));
        assert_eq!(read_message(&mut conn, &mut framer), sip("ack", "by id"));
        assert_eq!(read_message(&mut conn, &mut framer), sip("bye", "by address"));
        agent.set_nonblocking(true).unwrap();
        assert_eq!(agent.accept().map(|_| ()).unwrap_err().kind(), ErrorKind::WouldBlock);
    }
    assert_eq!(handle.stats().dialled.load(Ordering::Relaxed), 2);
}

#[test]
fn tcp_dial_failure_is_counted_and_told() {
    let (handle, rx) = start(SignalConfig::default());
    // A port nothing listens on: bind one, note it, close it.
    let dest = TcpListener::bind(V4).unwrap().local_addr().unwrap();
    handle.send(Outbound::new(Transport::Tcp, dest, sip("lost", "")));
    wait_for("the failed dial to be counted", || handle.stats().send_failures.load(Ordering::Relaxed) == 1);
    // The core hears of it at once, so it need not wait out its transaction timers.
    let notice = recv(&rx);
    assert!(notice.send_failed && notice.bytes.is_empty());
    assert_eq!((notice.transport, notice.source), (Transport::Tcp, dest));
    wait_for("the slot to be freed", || handle.stats().open_connections.load(Ordering::Relaxed) == 0);
}

#[test]
fn tls_server_on_v4_and_v6_with_optional_client_certificates() {
    let config = SignalConfig { tls_client_ca: Some(data("ca.pem")), ..tls_config() };
    let (handle, rx) = start(config);
    for (family, name, with_cert) in [(V4, "localhost", true), (V6, "::1", false), (V4, "127.0.0.1", false)] {
        let server = bound(&handle, Transport::Tls, family);
        let mut client = tls_connect(server, name, with_cert);
        let request = sip("tls", name);
        client.write_all(&request).unwrap();
        let inbound = recv(&rx);
        assert_eq!(inbound.transport, Transport::Tls);
        assert_eq!(inbound.bytes, request);
        assert_eq!(inbound.source, client.sock.local_addr().unwrap());
        assert!(inbound.conn.is_some());

        handle.send(Outbound::reply_to(&inbound, sip("tls-reply", name)));
        assert_eq!(read_message(&mut client, &mut StreamFramer::default()), sip("tls-reply", name));
        // Keep-alives work inside TLS too.
        client.write_all(b"\r\n\r\n").unwrap();
        let mut pong = [0u8; 2];
        client.read_exact(&mut pong).unwrap();
        assert_eq!(&pong, b"\r\n");
    }
    assert_eq!(handle.stats().tls_handshake_failures.load(Ordering::Relaxed), 0);
}

/// A TLS 1.1 ClientHello (record and handshake version 3.2, two CBC suites). It carries a
/// signature_algorithms extension so that the version, not a missing extension, is what the
/// server objects to.
fn tls11_client_hello() -> Vec<u8> {
    let mut hello = vec![0x03, 0x02];
    hello.extend_from_slice(&[0x5a; 32]); // random
    hello.push(0); // no session id
    hello.extend_from_slice(&[0x00, 0x04, 0x00, 0x2f, 0x00, 0x35]); // cipher suites
    hello.extend_from_slice(&[0x01, 0x00]); // null compression
    // extensions: signature_algorithms (13) = ecdsa_secp256r1_sha256, rsa_pkcs1_sha256
    hello.extend_from_slice(&[0x00, 0x0a, 0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x04, 0x01]);
    let mut handshake = vec![0x01, 0x00, 0x00, hello.len() as u8];
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x02, 0x00, handshake.len() as u8];
    record.extend_from_slice(&handshake);
    record
}

#[test]
fn tls_refuses_tls11_and_plaintext_without_harming_the_listener() {
    let (handle, rx) = start(tls_config());
    let server = bound(&handle, Transport::Tls, V4);

    let mut old = connect(server);
    old.write_all(&tls11_client_hello()).unwrap();
    let mut answer = Vec::new();
    let _ = old.read_to_end(&mut answer);
    assert_eq!(answer.first(), Some(&0x15), "an alert record, not a ServerHello: {answer:02x?}");
    assert_eq!(answer.last(), Some(&70), "alert protocol_version");

    let mut plain = connect(server);
    plain.write_all(&sip("plaintext", "to a TLS port")).unwrap();
    assert!(closes(&mut plain));

    wait_for("both handshake failures", || {
        handle.stats().tls_handshake_failures.load(Ordering::Relaxed) == 2
    });
    wait_for("their slots to be freed", || handle.stats().open_connections.load(Ordering::Relaxed) == 0);
    assert_quiet(&rx);

    let mut good = tls_connect(server, "localhost", false);
    good.write_all(&sip("after", "")).unwrap();
    assert_eq!(recv(&rx).bytes, sip("after", ""));
}

/// A one-connection TLS server with the test certificate; returns its address and a thread that
/// reads one message, answers `reply`, and returns what it read.
fn tls_test_server(family: &str, reply: Vec<u8>) -> (SocketAddr, std::thread::JoinHandle<Option<Vec<u8>>>) {
    let listener = TcpListener::bind(family).unwrap();
    let at = listener.local_addr().unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs("server.pem"), key("server.key"))
        .unwrap();
    let thread = std::thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
        let mut stream = rustls::StreamOwned::new(conn, sock);
        let mut framer = StreamFramer::default();
        let mut buf = [0u8; 4096];
        let got = loop {
            if let Some(Ok(Frame::Message(m))) = framer.next() {
                break m;
            }
            match stream.read(&mut buf) {
                Ok(n) if n > 0 => framer.push(&buf[..n]),
                _ => return None, // the handshake or the read failed
            }
        };
        stream.write_all(&reply).unwrap();
        stream.flush().unwrap();
        // Closing now is fine: TCP delivers the reply before the FIN.
        stream.conn.send_close_notify();
        let _ = stream.flush();
        Some(got)
    });
    (at, thread)
}

#[test]
fn tls_dials_out_verifies_the_server_and_receives_its_reply() {
    let config = SignalConfig { tls_roots: Some(data("ca.pem")), ..tls_config() };
    let (handle, rx) = start(config);
    for (family, name) in [(V4, Some("localhost")), (V6, None)] {
        let (dest, server) = tls_test_server(family, sip("200", "from agent"));
        let mut out = Outbound::new(Transport::Tls, dest, sip("invite", "to agent"));
        out.server_name = name.map(str::to_string);
        handle.send(out);
        let inbound = recv(&rx);
        assert_eq!((inbound.transport, inbound.source), (Transport::Tls, dest));
        assert_eq!(inbound.bytes, sip("200", "from agent"));
        assert!(inbound.conn.is_some());
        assert_eq!(server.join().unwrap(), Some(sip("invite", "to agent")));
    }
}

#[test]
fn tls_dial_to_an_untrusted_server_fails() {
    // The client certificate is a leaf, not the CA that signed the server's: nothing chains.
    let config = SignalConfig { tls_roots: Some(data("client.pem")), ..SignalConfig::default() };
    let (handle, rx) = start(config);
    let (dest, server) = tls_test_server(V4, sip("200", ""));
    let mut out = Outbound::new(Transport::Tls, dest, sip("invite", "secret"));
    out.server_name = Some("localhost".to_string());
    handle.send(out);
    assert_eq!(server.join().unwrap(), None, "nothing reaches an unverified server");
    wait_for("the failure to be counted", || {
        handle.stats().tls_handshake_failures.load(Ordering::Relaxed) == 1
    });
    assert_eq!(handle.stats().send_failures.load(Ordering::Relaxed), 1);
    let notice = recv(&rx);
    assert!(notice.send_failed && notice.source == dest && notice.transport == Transport::Tls);
    assert_quiet(&rx);
}

#[test]
fn tls_dial_without_roots_is_refused() {
    let (handle, rx) = start(SignalConfig::default());
    handle.send(Outbound::new(Transport::Tls, addr("127.0.0.1:5061"), sip("x", "")));
    wait_for("the failure to be counted", || handle.stats().send_failures.load(Ordering::Relaxed) == 1);
    assert_eq!(handle.stats().dialled.load(Ordering::Relaxed), 0);
    assert!(recv(&rx).send_failed);
}

#[test]
fn start_errors_name_the_wrong_file_or_address() {
    let error = |config: SignalConfig| signal::start(config).unwrap_err().to_string();

    let missing = data("no-such.pem");
    let e = error(SignalConfig { tls_cert: Some(missing.clone()), ..tls_config() });
    assert!(e.contains("tls_cert") && e.contains(&*missing.to_string_lossy()), "{e}");

    // A key file that holds no key.
    let e = error(SignalConfig { tls_key: Some(data("server.pem")), ..tls_config() });
    assert!(e.contains("tls_key") && e.contains("server.pem") && e.contains("no PRIVATE KEY"), "{e}");

    // A key that belongs to another certificate.
    let e = error(SignalConfig { tls_key: Some(data("client.key")), ..tls_config() });
    assert!(e.contains("tls_key does not fit tls_cert") && e.contains("server.pem"), "{e}");

    let e = error(SignalConfig { tls_client_ca: Some(data("README.md")), ..tls_config() });
    assert!(e.contains("tls_client_ca") && e.contains("README.md"), "{e}");

    let e = error(SignalConfig { tls_roots: Some(data("server.key")), ..SignalConfig::default() });
    assert!(e.contains("tls_roots") && e.contains("server.key"), "{e}");
    // Key material never appears in an error.
    let key_text = std::fs::read_to_string(data("server.key")).unwrap();
    let key_line = key_text.lines().nth(1).unwrap();
    assert!(!e.contains(key_line));

    let e = error(SignalConfig { tls_key: None, ..tls_config() });
    assert!(e.contains("tls_cert and tls_key"), "{e}");

    let taken = UdpSocket::bind(V4).unwrap();
    let at = taken.local_addr().unwrap();
    let e = error(SignalConfig { udp: vec![at], ..SignalConfig::default() });
    assert!(e.contains(&format!("UDP {at}")), "{e}");
}

#[test]
fn connections_are_bounded() {
    let config = SignalConfig { tcp: vec![addr(V4)], max_connections: 2, ..SignalConfig::default() };
    let (handle, rx) = start(config);
    let server = bound(&handle, Transport::Tcp, V4);
    let mut a = connect(server);
    let mut b = connect(server);
    a.write_all(&sip("a", "")).unwrap();
    b.write_all(&sip("b", "")).unwrap();
    recv(&rx);
    recv(&rx);
    let mut c = connect(server);
    assert!(closes(&mut c), "the third connection is closed at once");
    assert_eq!(handle.stats().refused.load(Ordering::Relaxed), 1);
    // Dialling out counts against the same bound.
    let agent = TcpListener::bind(V4).unwrap();
    handle.send(Outbound::new(Transport::Tcp, agent.local_addr().unwrap(), sip("out", "")));
    wait_for("the refused dial", || handle.stats().refused.load(Ordering::Relaxed) == 2);
    assert!(recv(&rx).send_failed, "the core is told");
    // Once one closes, a new one is served.
    drop(a);
    wait_for("the slot to be freed", || handle.stats().open_connections.load(Ordering::Relaxed) == 1);
    let mut d = connect(server);
    d.write_all(&sip("d", "")).unwrap();
    assert_eq!(recv(&rx).bytes, sip("d", ""));
}

#[test]
fn one_source_cannot_take_every_connection() {
    let config = SignalConfig {
        tcp: vec![addr(V4)],
        max_connections: 10,
        max_connections_per_source: 2,
        ..SignalConfig::default()
    };
    let (handle, rx) = start(config);
    let server = bound(&handle, Transport::Tcp, V4);
    let mut a = connect(server);
    let mut b = connect(server);
    a.write_all(&sip("a", "")).unwrap();
    b.write_all(&sip("b", "")).unwrap();
    recv(&rx);
    recv(&rx);
    let mut c = connect(server);
    assert!(closes(&mut c), "a third connection from 127.0.0.1 is closed at once");
    // Another address is served while 127.0.0.1 holds its two.
    let other = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    other.bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into()).unwrap();
    other.connect(&server.into()).unwrap();
    let mut other: TcpStream = other.into();
    other.set_read_timeout(Some(WAIT)).unwrap();
    other.write_all(&sip("other", "")).unwrap();
    let got = recv(&rx);
    assert_eq!(got.source.ip(), std::net::IpAddr::from([127, 0, 0, 2]));
    // A slot of 127.0.0.1's comes back when one of its connections closes.
    drop(a);
    wait_for("the slot to be freed", || handle.stats().open_connections.load(Ordering::Relaxed) == 2);
    let mut d = connect(server);
    d.write_all(&sip("d", "")).unwrap();
    assert_eq!(recv(&rx).bytes, sip("d", ""));
}

#[test]
fn idle_connections_are_closed() {
    let config = SignalConfig {
        tcp: vec![addr(V4)],
        idle_timeout: Duration::from_millis(300),
        ..SignalConfig::default()
    };
    let (handle, rx) = start(config);
    let mut client = connect(bound(&handle, Transport::Tcp, V4));
    client.write_all(&sip("x", "")).unwrap();
    recv(&rx);
    let opened = Instant::now();
    assert!(closes(&mut client));
    assert!(opened.elapsed() >= Duration::from_millis(250), "not before the idle timeout");
    assert_eq!(handle.stats().idle_closed.load(Ordering::Relaxed), 1);
}

#[test]
fn a_peer_that_stops_reading_cannot_grow_the_write_queue() {
    let config =
        SignalConfig { max_message: 64 * 1024, max_pending_write: 128 * 1024, ..SignalConfig::default() };
    let (handle, _rx) = start(config);
    let agent = TcpListener::bind(V4).unwrap();
    let dest = agent.local_addr().unwrap();
    let body = "x".repeat(60_000);
    handle.send(Outbound::new(Transport::Tcp, dest, sip("0", &body)));
    let (_never_read, _) = agent.accept().unwrap();
    // Far more than the kernel's socket buffers take: the queue fills and further sends fail.
    for i in 1..600 {
        handle.send(Outbound::new(Transport::Tcp, dest, sip(&i.to_string(), &body)));
    }
    wait_for("sends to be refused", || handle.stats().send_failures.load(Ordering::Relaxed) > 0);
    assert_eq!(handle.stats().open_connections.load(Ordering::Relaxed), 1);
}

#[test]
fn dropping_the_last_handle_closes_the_listeners() {
    let (handle, _rx) = start(SignalConfig { tcp: vec![addr(V4)], ..SignalConfig::default() });
    let server = bound(&handle, Transport::Tcp, V4);
    let clone = handle.clone();
    drop(handle);
    assert!(TcpStream::connect(server).is_ok(), "a clone keeps it running");
    drop(clone);
    wait_for("the listener to close", || TcpStream::connect(server).is_err());
}

/// `start_direct`: the core thread reads and writes UDP itself (v4 and v6), keep-alives and
/// oversized datagrams stay out, a stream message wakes its wait, and UDP through the signal
/// thread's handle is refused (counted) since that thread holds no UDP socket.
#[test]
fn direct_udp_is_served_by_the_core_and_streams_wake_it() {
    let config = SignalConfig {
        udp: vec![addr(V4), addr(V6)],
        tcp: vec![addr(V4)],
        max_message: 8000,
        ..SignalConfig::default()
    };
    let (handle, inbound, mut io) = signal::start_direct(config).unwrap();
    // Everything the core sees through CoreIo: (source, local, bytes).
    let take = |io: &mut signal::CoreIo| {
        let mut got = vec![];
        let deadline = Instant::now() + WAIT;
        while got.is_empty() && Instant::now() < deadline {
            io.wait(Some(Duration::from_millis(100))).unwrap();
            io.receive(|source, local, bytes| got.push((source, local, bytes.to_vec())));
        }
        got
    };
    for like in [V4, V6] {
        let local = bound(&handle, Transport::Udp, like);
        let peer = UdpSocket::bind(like).unwrap();
        peer.set_read_timeout(Some(WAIT)).unwrap();
        peer.send_to(b"\r\n\r\n", local).unwrap();
        peer.send_to(&vec![b'x'; 8001], local).unwrap();
        peer.send_to(&sip("in", "hello"), local).unwrap();
        let got = take(&mut io);
        assert_eq!(got, vec![(peer.local_addr().unwrap(), local, sip("in", "hello"))]);
        // Under max_message but over a relay buffer's 2 KiB: whole.
        let big = sip("big", &"a".repeat(4000));
        peer.send_to(&big, local).unwrap();
        assert_eq!(take(&mut io), vec![(peer.local_addr().unwrap(), local, big)]);
        io.send_udp(&Outbound::new(Transport::Udp, peer.local_addr().unwrap(), sip("out", "back")));
        let mut buf = [0u8; 4096];
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&sip("out", "back")[..], local));
    }
    assert_eq!(handle.stats().inbound_dropped.load(Ordering::Relaxed), 2);
    assert_eq!(handle.stats().received.load(Ordering::Relaxed), 4);
    assert_eq!(handle.stats().sent.load(Ordering::Relaxed), 2);

    // A burst past one wake's share (64 per socket): the rest is served by the next waits at
    // once (no datagram arrives after the burst to raise readiness again).
    let local = bound(&handle, Transport::Udp, V4);
    let peer = UdpSocket::bind(V4).unwrap();
    for i in 0..200 {
        peer.send_to(&sip(&format!("burst-{i}"), ""), local).unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    let mut burst = vec![];
    for _ in 0..10 {
        io.wait(Some(Duration::from_millis(50))).unwrap();
        io.receive(|_, _, bytes| burst.push(bytes.to_vec()));
    }
    assert_eq!(burst.len(), 200);
    assert_eq!(burst[199], sip("burst-199", ""));

    // A TCP message arrives on the receiver, and its arrival ends a long wait at once.
    let mut stream = connect(bound(&handle, Transport::Tcp, V4));
    stream.write_all(&sip("tcp", "over a stream")).unwrap();
    let t0 = Instant::now();
    io.wait(Some(Duration::from_secs(30))).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(20), "the stream message did not wake the wait");
    io.clear_wake();
    let m = recv(&inbound);
    assert_eq!((m.transport, m.bytes), (Transport::Tcp, sip("tcp", "over a stream")));

    let failures = handle.stats().send_failures.load(Ordering::Relaxed);
    handle.send(Outbound::new(Transport::Udp, addr("127.0.0.1:9"), sip("x", "y")));
    wait_for("the refused UDP send to be counted", || {
        handle.stats().send_failures.load(Ordering::Relaxed) == failures + 1
    });
}

/// A peer that stops reading: what Tonewall queued for it can never be delivered, and nothing
/// retransmits over TCP, so once the writes time out the core is told (as for a failed dial)
/// instead of waiting out its 32 s transaction timers.
#[test]
fn tcp_writes_that_never_complete_are_told() {
    let config = SignalConfig {
        tcp: vec![addr(V4)],
        idle_timeout: Duration::from_secs(1),
        max_message: 64 * 1024,
        max_pending_write: 64 << 20,
        ..SignalConfig::default()
    };
    let (handle, rx) = start(config);
    let peer = connect(bound(&handle, Transport::Tcp, V4));
    let mut w = &peer;
    w.write_all(&sip("hello", "")).unwrap();
    let hello = recv(&rx);
    // 16 MiB toward a peer that reads nothing: far past both sockets' buffers.
    let big = sip("big", &"x".repeat(60_000));
    for _ in 0..256 {
        handle.send(Outbound::reply_to(&hello, big.clone()));
    }
    let notice = rx.recv_timeout(Duration::from_secs(10)).expect("a notice once the writes time out");
    assert!(notice.send_failed && notice.bytes.is_empty(), "{notice:?}");
    assert_eq!((notice.transport, notice.source), (Transport::Tcp, hello.source));
    assert!(handle.stats().send_failures.load(Ordering::Relaxed) > 0);
    drop(peer);
}

/// A trunk that must prove itself over TLS: from its network, a connection without a client
/// certificate, or with one not valid for the trunk's name, is closed before any message gets
/// through; the right certificate passes; other addresses are not affected.
#[test]
fn tls_identities_tie_a_network_to_a_certificate_name() {
    use tonewall_media::anchor::Cidr;
    let identity = |name: &str| signal::TlsIdentity {
        networks: vec![Cidr::parse("127.0.0.0/8").unwrap()],
        name: name.to_string(),
    };
    let config = SignalConfig {
        tls_client_ca: Some(data("ca.pem")),
        tls_identities: vec![identity("trunk.test")],
        ..tls_config()
    };
    let (handle, rx) = start(config);
    let v4 = bound(&handle, Transport::Tls, V4);
    let mut good = tls_connect(v4, "127.0.0.1", true);
    good.write_all(&sip("good", "")).unwrap();
    assert_eq!(recv(&rx).bytes, sip("good", ""));

    let mut anonymous = tls_connect(v4, "127.0.0.1", false);
    let _ = anonymous.write_all(&sip("anonymous", ""));
    assert!(closes(&mut anonymous), "a certificate-less connection from the trunk's network stays open");
    assert_quiet(&rx);
    assert_eq!(handle.stats().tls_identity_refused.load(Ordering::Relaxed), 1);

    // From ::1, outside the identity's network: no certificate needed.
    let mut other = tls_connect(bound(&handle, Transport::Tls, V6), "::1", false);
    other.write_all(&sip("other", "")).unwrap();
    assert_eq!(recv(&rx).bytes, sip("other", ""));

    // A certificate chaining to the CA but named for someone else.
    let config = SignalConfig {
        tls_client_ca: Some(data("ca.pem")),
        tls_identities: vec![identity("carrier-b.test")],
        ..tls_config()
    };
    let (handle, rx) = start(config);
    let mut wrong = tls_connect(bound(&handle, Transport::Tls, V4), "127.0.0.1", true);
    let _ = wrong.write_all(&sip("wrong", ""));
    assert!(closes(&mut wrong));
    assert_quiet(&rx);
    assert_eq!(handle.stats().tls_identity_refused.load(Ordering::Relaxed), 1);

    // Identities without a CA to verify against are a configuration error.
    let err = signal::start(SignalConfig { tls_identities: vec![identity("trunk.test")], ..tls_config() })
        .map(|_| ())
        .expect_err("needs tls_client_ca");
    assert!(err.to_string().contains("tls_client_ca"), "{err}");
}
