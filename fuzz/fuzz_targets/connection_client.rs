#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rfc6455_fuzz::run_connection(
    rfc6455::Role::Client,
    data
));
