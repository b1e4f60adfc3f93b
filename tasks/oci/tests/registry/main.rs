//! The oci crate against a real registry (Debian's `docker-registry`, started per test) and,
//! where a real one cannot show the behaviour, a small fake.

mod auth;
mod fake;
mod layout;
mod push;
mod support;
