//! yaml-edit
