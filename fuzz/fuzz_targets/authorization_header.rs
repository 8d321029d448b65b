#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dsconn_fuzz::authorization_header(data));
