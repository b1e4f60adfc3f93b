//! modelcar
