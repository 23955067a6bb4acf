//! The queue across restarts: accepted entries come back, torn ones go, corrupt ones are set
//! aside, state survives.

use crate::scratch;
use mail_server::queue::{DeliveryState, Envelope, Queue, QueuedRecipient, RecipientStatus};
use std::time::SystemTime;

fn envelope(to: &[&str]) -> Envelope {
    Envelope {
        from: "alice@crepes.fr".into(),
        recipients: to
            .iter()
            .map(|address| QueuedRecipient {
                address: address.to_string(),
                notify: None,
                orcpt: None,
            })
            .collect(),
        arrival: 1_800_000_000,
        helo: "mail.crepes.fr".into(),
        peer: "127.0.6.10".into(),
        body: "7BIT".into(),
        smtputf8: false,
        ret: None,
        envid: None,
        auth: None,
    }
}

#[test]
fn entries_survive_a_restart_and_damage_is_sorted_out() {
    let dir = scratch("queue-restart");
    let (queue, recovery) = Queue::open(&dir).unwrap();
    assert!(recovery.entries.is_empty());
    let now = SystemTime::now();
    let first = queue
        .enqueue(
            &envelope(&["bob@hamburger.edu"]),
            b"Subject: 1\r\n\r\none\r\n",
            now,
        )
        .unwrap();
    let second = queue
        .enqueue(
            &envelope(&["bob@hamburger.edu", "carol@hamburger.edu"]),
            b"Subject: 2\r\n\r\ntwo\r\n",
            now,
        )
        .unwrap();
    let third = queue
        .enqueue(
            &envelope(&["dan@hamburger.edu"]),
            b"Subject: 3\r\n\r\nthree\r\n",
            now,
        )
        .unwrap();
    let mut state = DeliveryState::new(&envelope(&["a", "b"]));
    state.attempts = 1;
    state.recipients[0] = RecipientStatus::Delivered("250 2.0.0 Ok".into());
    queue.save_state(&second, &state).unwrap();
    drop(queue);

    // A crash mid-write leaves a file in tmp/; damage makes the third entry corrupt.
    std::fs::write(
        dir.join("tmp").join("0000000000000000"),
        b"applayer-queue 1 99",
    )
    .unwrap();
    let third_path = dir.join("active").join(&third);
    let mut bytes = std::fs::read(&third_path).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 1;
    std::fs::write(&third_path, bytes).unwrap();

    let (queue, recovery) = Queue::open(&dir).unwrap();
    assert_eq!(recovery.torn, 1);
    assert_eq!(recovery.corrupt.len(), 1, "{:?}", recovery.corrupt);
    assert!(recovery.corrupt[0].contains("checksum"));
    assert!(dir.join("corrupt").join(&third).exists());
    let ids: Vec<&str> = recovery.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, [first.as_str(), second.as_str()]);
    assert_eq!(recovery.entries[1].state, state);
    assert_eq!(
        recovery.entries[0].state,
        DeliveryState::new(&recovery.entries[0].envelope)
    );
    let (_, message) = queue.load(&first).unwrap();
    assert_eq!(message, b"Subject: 1\r\n\r\none\r\n");

    queue.remove(&first).unwrap();
    assert_eq!(queue.ids().unwrap(), std::slice::from_ref(&second));
    assert!(queue.load(&first).is_err());
    assert!(queue.load("../../etc/passwd").is_err());
}
