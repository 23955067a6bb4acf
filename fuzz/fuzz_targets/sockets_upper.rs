//! Fuzz target: streaming uppercasing gives the same bytes however the input is cut, and the
//! ping decoder never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockets::upper::{uppercase, Uppercaser};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, data)) = data.split_first() else {
        return;
    };
    let whole = uppercase(data);
    let cut = usize::from(cut).min(data.len());
    let mut uppercaser = Uppercaser::new();
    let mut pieces = Vec::new();
    uppercaser.push(&data[..cut], &mut pieces);
    uppercaser.push(&data[cut..], &mut pieces);
    uppercaser.finish(&mut pieces);
    assert_eq!(pieces, whole);
    let _ = sockets::ping::decode(data);
});
