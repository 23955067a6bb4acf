//! Fuzz target: the cache's exchange machine over an arbitrary request and origin responses:
//! a miss that stores the first response, then the request again against the stored entry at
//! several times, with the second response as the revalidation answer, and `stored_reply`.
#![no_main]

use http_cache::freshness::{from_unix_seconds, CacheKind};
use http_cache::{exchange::stored_reply, Action, Exchange, ExchangeConfig, UpstreamFailure};
use http_proto::{parse_request, parse_response, Limits, Uri};
use libfuzzer_sys::fuzz_target;

fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => (&data[..at + 4], &data[at + 4..]),
        None => (data, &[]),
    }
}

fuzz_target!(|data: &[u8]| {
    let (request, rest) = split(data);
    let (first, second) = split(rest);
    let limits = Limits::default();
    let Ok(Some(request)) = parse_request(request, &limits) else {
        return;
    };
    let head = request.head;
    let Ok(target) = Uri::parse("http://origin.example/thing") else {
        return;
    };
    let config = ExchangeConfig {
        kind: CacheKind::Shared,
        max_object_size: 1 << 20,
    };
    let responses: Vec<_> = [first, second]
        .iter()
        .filter_map(|bytes| parse_response(bytes, &limits, &head.method).ok().flatten())
        .collect();
    let t = |seconds: u64| from_unix_seconds(1_700_000_000 + seconds);
    // A miss: fetch, then forward (and maybe store) the first response.
    let mut exchange = Exchange::new(&head, &target, config);
    let mut action = exchange.start();
    if action == Action::Lookup {
        action = exchange.looked_up(None, t(0));
    }
    if action == Action::Join {
        action = exchange.joined(true);
    }
    let mut stored = None;
    if let (Action::Fetch { .. } | Action::PassThrough, Some(response)) =
        (&action, responses.first())
    {
        if let Action::Forward {
            store: Some(entry), ..
        } = exchange.upstream_head(None, &response.head, response.body, t(0), t(1))
        {
            stored = Some(*entry);
        }
    }
    let Some(mut entry) = stored else {
        return;
    };
    entry.meta.body_len = 100;
    let _ = stored_reply(&head, &entry);
    for now in [1, 30, 3_600, 100_000, u32::MAX as u64] {
        let mut exchange = Exchange::new(&head, &target, config);
        if exchange.start() != Action::Lookup {
            continue;
        }
        match exchange.looked_up(Some(&entry), t(now)) {
            Action::Fetch { .. } => {
                let _ = exchange.upstream_failed(
                    Some(&entry),
                    UpstreamFailure::Timeout,
                    "fuzz",
                    t(now),
                );
                let mut exchange = Exchange::new(&head, &target, config);
                exchange.start();
                exchange.looked_up(Some(&entry), t(now));
                if let Some(response) = responses.get(1) {
                    if let Action::Refresh { entry: fresh } = exchange.upstream_head(
                        Some(&entry),
                        &response.head,
                        response.body,
                        t(now),
                        t(now),
                    ) {
                        let _ = exchange.refreshed(&fresh, t(now));
                    }
                }
            }
            Action::ServeAndRevalidate { .. } => {
                let (_, _) = Exchange::background(&head, &target, config, &entry);
            }
            _ => {}
        }
    }
});
