//! gitops
