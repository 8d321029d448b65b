#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dsconn_fuzz::endpoint_list(data));
