#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rfc6455_fuzz::check_handshake_response(data));
