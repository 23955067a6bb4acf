//! Integration tests of http-proto: the smuggling-vector table and robustness properties.

mod robustness;
mod smuggling;
