#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn agree(config: &PerMessageDeflate, lines: &[&str]) -> Option<(Agreed, String)> {
    let values: Vec<HeaderValue> =
        lines.iter().map(|l| HeaderValue::from_str(l).unwrap()).collect();
    negotiate(config, values.iter())
        .map(|(agreed, answer)| (agreed, answer.to_str().unwrap().to_owned()))
}

fn answer(config: &PerMessageDeflate, lines: &[&str]) -> Option<String> {
    agree(config, lines).map(|(_, answer)| answer)
}

#[test]
fn negotiation_answers_what_the_clients_offer() {
    let node = PerMessageDeflate::default();
    let table: &[(&[&str], Option<&str>)] = &[
        // Chromium and the Node `ws` client.
        (&["permessage-deflate; client_max_window_bits"], Some("permessage-deflate")),
        (&["permessage-deflate"], Some("permessage-deflate")),
        // Autobahn's offers (13.x).
        (
            &["permessage-deflate; client_no_context_takeover; client_max_window_bits"],
            Some("permessage-deflate; client_no_context_takeover"),
        ),
        (
            &["permessage-deflate; client_max_window_bits; server_max_window_bits=9"],
            Some("permessage-deflate; server_max_window_bits=9"),
        ),
        (
            &["permessage-deflate; server_no_context_takeover; server_max_window_bits=15"],
            Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=15"),
        ),
        (
            &["permessage-deflate; server_max_window_bits=8"],
            Some("permessage-deflate; server_max_window_bits=8"),
        ),
        // Quoted values, any case, spaces.
        (
            &["PerMessage-Deflate ;Server_Max_Window_Bits=\"10\""],
            Some("permessage-deflate; server_max_window_bits=10"),
        ),
        // Invalid offers are declined; the next acceptable one is taken.
        (&["permessage-deflate; server_max_window_bits=16"], None),
        (&["permessage-deflate; server_max_window_bits=7"], None),
        (&["permessage-deflate; server_max_window_bits"], None),
        (&["permessage-deflate; server_max_window_bits=+9"], None),
        (&["permessage-deflate; client_max_window_bits=abc"], None),
        (&["permessage-deflate; server_no_context_takeover=1"], None),
        (&["permessage-deflate; server_no_context_takeover; server_no_context_takeover"], None),
        (&["permessage-deflate; mystery"], None),
        (&["x-webkit-deflate-frame"], None),
        (&[""], None),
        (
            &["permessage-deflate; mystery, permessage-deflate; client_no_context_takeover"],
            Some("permessage-deflate; client_no_context_takeover"),
        ),
        (
            &["foo; bar", "permessage-deflate; server_max_window_bits=12"],
            Some("permessage-deflate; server_max_window_bits=12"),
        ),
    ];
    for (offer, expected) in table {
        assert_eq!(answer(&node, offer).as_deref(), *expected, "{offer:?}");
    }
}

#[test]
fn negotiation_applies_the_server_settings() {
    let config = PerMessageDeflate {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 10,
        client_max_window_bits: 11,
        ..PerMessageDeflate::default()
    };
    // The client can bound its window: asked to.
    assert_eq!(
        answer(&config, &["permessage-deflate; client_max_window_bits"]).as_deref(),
        Some(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=11"
        )
    );
    // It cannot: its window stays 15, and the answer does not name the parameter.
    let (agreed, text) = agree(&config, &["permessage-deflate; server_max_window_bits=9"]).unwrap();
    assert_eq!(
        text,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=9"
    );
    assert_eq!((agreed.server_window, agreed.client_window), (9, 15));
    // A client window it offers smaller than the setting is kept.
    let (agreed, _) = agree(&config, &["permessage-deflate; client_max_window_bits=9"]).unwrap();
    assert_eq!(agreed.client_window, 9);
}

fn deflate_for(offer: &str, config: &PerMessageDeflate) -> Deflate {
    Deflate::new(agree(config, &[offer]).unwrap().0)
}

/// Text that compresses well but not to nothing.
fn text(len: usize) -> Vec<u8> {
    let words = ["socket ", "board ", "switch ", "engine ", "deflate ", "window "];
    let mut out = Vec::with_capacity(len);
    let mut i = 7usize;
    while out.len() < len {
        i = i.wrapping_mul(31).wrapping_add(17) % 1009;
        out.extend_from_slice(words[i % words.len()].as_bytes());
        out.extend_from_slice(i.to_string().as_bytes());
    }
    out.truncate(len);
    out
}

#[test]
fn messages_round_trip_in_every_mode() {
    let offers = [
        "permessage-deflate",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9",
        "permessage-deflate; server_max_window_bits=8",
    ];
    for offer in offers {
        let config = PerMessageDeflate::default();
        // The server compresses; a peer in the same mode inflates (and the other way round).
        let mut server = deflate_for(offer, &config);
        let mut peer = deflate_for(offer, &config);
        for len in [0, 1, 100, 5000, 70_000, 300_000] {
            let message = text(len);
            let compressed = server.deflate(&message);
            assert!(!compressed.ends_with(&TAIL), "{offer}: the tail is stripped");
            if len >= 5000 {
                assert!(compressed.len() < len / 2, "{offer}: {len} → {}", compressed.len());
            }
            assert_eq!(peer.inflate(&compressed).unwrap(), message, "{offer} {len}");
        }
    }
}

#[test]
fn context_takeover_keeps_the_window_between_messages_unless_refused() {
    let config = PerMessageDeflate::default();
    let message = text(4000);
    let mut keeps = deflate_for("permessage-deflate", &config);
    let first = keeps.deflate(&message).len();
    let second = keeps.deflate(&message).len();
    // The second copy is one long match into the kept window.
    assert!(second * 10 < first, "{first} then {second}");
    assert!(keeps.compress.is_some());

    let mut fresh = deflate_for("permessage-deflate; server_no_context_takeover", &config);
    let first = fresh.deflate(&message);
    assert!(fresh.compress.is_none(), "no state is kept between messages");
    assert_eq!(fresh.deflate(&message), first);
    // The state went to the thread's spare, reset: another connection's message compresses
    // the same, and takes it.
    let mut other = deflate_for("permessage-deflate; server_no_context_takeover", &config);
    assert_eq!(other.deflate(&message), first);
    let spare = SPARE_COMPRESS.take();
    assert!(matches!(spare, Some((6, 15, _))), "one spare, of the connection's kind");
    // A spare of another kind is not taken.
    SPARE_COMPRESS.set(spare);
    let nine = "permessage-deflate; server_no_context_takeover; server_max_window_bits=9";
    let small = deflate_for(nine, &config).deflate(&message);
    assert_ne!(small, first, "compressed with its own window");
    assert_eq!(deflate_for(nine, &config).inflate(&small).unwrap(), message);
    assert!(matches!(SPARE_COMPRESS.take(), Some((6, 9, _))));

    // The inflate side frees its state too when the client keeps no window.
    let mut inflater = deflate_for("permessage-deflate; client_no_context_takeover", &config);
    assert_eq!(inflater.inflate(&first).unwrap(), message);
    assert!(inflater.decompress.is_none());
    let mut inflater = deflate_for("permessage-deflate", &config);
    assert_eq!(inflater.inflate(&first).unwrap(), message);
    assert!(inflater.decompress.is_some());
}

#[test]
fn a_compression_bomb_stops_at_the_limit() {
    let config = PerMessageDeflate { max_inflated: 100_000, ..PerMessageDeflate::default() };
    let mut sender = deflate_for("permessage-deflate", &PerMessageDeflate::default());
    // 20 MB of zeros deflate to about 20 KB.
    let bomb = sender.deflate(&vec![0u8; 20_000_000]);
    assert!(bomb.len() < 25_000, "{}", bomb.len());
    let mut receiver = deflate_for("permessage-deflate", &config);
    assert_eq!(receiver.inflate(&bomb), Err(FrameError::TooLong));
    assert!(receiver.decompress.is_none(), "the failed state is freed");
    // At the limit exactly it passes; one byte over, it does not.
    let mut sender = deflate_for("permessage-deflate", &PerMessageDeflate::default());
    let exact = sender.deflate(&vec![7u8; 100_000]);
    let over = sender.deflate(&vec![7u8; 100_001]);
    let mut receiver = deflate_for("permessage-deflate", &config);
    assert_eq!(receiver.inflate(&exact).unwrap().len(), 100_000);
    assert_eq!(receiver.inflate(&over), Err(FrameError::TooLong));
}

#[test]
fn data_that_is_not_deflate_is_refused() {
    let config = PerMessageDeflate::default();
    // Block type 3 is reserved.
    for garbage in [&[0xff, 0xff, 0xff][..], &[0x07, 0x00, 0x00][..]] {
        let mut d = deflate_for("permessage-deflate", &config);
        assert_eq!(d.inflate(garbage), Err(FrameError::Compressed), "{garbage:?}");
    }
    // A final block ends the stream; the next message starts another.
    let mut d = deflate_for("permessage-deflate", &config);
    let mut c = Compress::new_with_window_bits(Compression::default(), false, 15);
    let mut last = Vec::with_capacity(64);
    c.compress_vec(b"fin", &mut last, FlushCompress::Finish).unwrap();
    assert_eq!(d.inflate(&last).unwrap(), b"fin");
    let mut sender = deflate_for("permessage-deflate", &config);
    assert_eq!(d.inflate(&sender.deflate(b"next")).unwrap(), b"next");
}

/// A small xorshift generator: the same inputs on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn any_input_inflates_within_the_limit_or_fails() {
    let config = PerMessageDeflate { max_inflated: 4096, ..PerMessageDeflate::default() };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut sender = deflate_for("permessage-deflate", &PerMessageDeflate::default());
    let valid = sender.deflate(&text(20_000));
    for round in 0..3000 {
        let input = if round % 2 == 0 {
            let len = (rng.next() % 300) as usize;
            rng.bytes(len)
        } else {
            // A valid stream with a few bytes changed.
            let mut input = valid.clone();
            for _ in 0..1 + rng.next() % 4 {
                let at = (rng.next() as usize) % input.len();
                input[at] = rng.next() as u8;
            }
            input
        };
        let mut d = deflate_for("permessage-deflate", &config);
        match d.inflate(&input) {
            Ok(out) => assert!(out.len() <= 4096, "round {round}: {}", out.len()),
            Err(e) => assert!(matches!(e, FrameError::TooLong | FrameError::Compressed), "{e:?}"),
        }
    }
    // Offers of any bytes: an answer or none, never a panic.
    for _ in 0..3000 {
        let len = (rng.next() % 60) as usize;
        let offer: String = rng
            .bytes(len)
            .iter()
            .map(|b| b" ;=,\"9permsgdflt_x"[*b as usize % 18] as char)
            .collect();
        let _ = answer(&config, &[&format!("permessage-deflate;{offer}")]);
    }
}
