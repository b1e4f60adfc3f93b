//! modelcar-build against the real registry (Debian's docker-registry, plain and TLS + basic auth),
//! checked with an independent client (skopeo) and GNU tar: the layers unpacked in order give the
//! model back byte for byte under models/.

#[path = "modelcar_build/base.rs"]
mod base;
#[path = "modelcar_build/input.rs"]
mod input;
#[path = "modelcar_build/push.rs"]
mod push;
#[path = "modelcar_build/support.rs"]
mod support;
