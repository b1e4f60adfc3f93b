//! The four tools against servers that misbehave the way real ones sometimes do, through the test
//! suite's fault-injection proxy (`test_services::FaultProxy`): credentials stay with their own
//! origin, tokens never travel over plain HTTP unless the host was named, and dropped connections,
//! 5xx/429 answers, writes that were applied but answered with an error, and stalled servers all
//! end in bounded time with nothing lost and nothing written twice.

#[path = "network_faults/scenery.rs"]
mod scenery;

#[path = "network_faults/origin.rs"]
mod origin;

#[path = "network_faults/plain_http.rs"]
mod plain_http;

#[path = "network_faults/faults.rs"]
mod faults;
