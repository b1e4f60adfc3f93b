//! A throw-away certificate authority and a server certificate signed by it.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;

/// PEM files of a test CA and a leaf certificate it signed, in a temporary directory.
///
/// The leaf is a separate certificate (CA:FALSE) because rustls/webpki reject a self-signed end-entity
/// certificate that is marked as a CA.
pub struct Certs {
    /// The CA certificate: what a client trusts.
    pub ca_pem: PathBuf,
    /// The server certificate, valid for 127.0.0.1, localhost and the extra hosts.
    pub cert_pem: PathBuf,
    /// The server's private key (PKCS#8).
    pub key_pem: PathBuf,
    pub dir: TempDir,
}

impl Certs {
    /// A new CA and a leaf for `127.0.0.1`, `localhost` and `hosts` (DNS names or IP addresses).
    pub fn generate(hosts: &[&str]) -> Certs {
        let dir = tempfile::Builder::new()
            .prefix("test-certs-")
            .tempdir()
            .expect("create a temporary directory for certificates");

        let ca_key = KeyPair::generate().expect("generate the CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "test-services CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign the CA");
        let issuer = Issuer::new(ca_params, ca_key);

        let mut names: Vec<String> = vec!["127.0.0.1".into(), "localhost".into()];
        for host in hosts {
            if !names.iter().any(|name| name == host) {
                names.push(host.to_string());
            }
        }
        let leaf_key = KeyPair::generate().expect("generate the server key");
        // `new` makes IP SANs of addresses and DNS SANs of the rest.
        let mut leaf_params = CertificateParams::new(names.clone())
            .unwrap_or_else(|e| panic!("server certificate names {names:?}: {e}"));
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf_params.is_ca = IsCa::ExplicitNoCa;
        leaf_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf_params.use_authority_key_identifier_extension = true;
        let leaf_cert = leaf_params
            .signed_by(&leaf_key, &issuer)
            .expect("sign the server certificate");

        let ca_pem = dir.path().join("ca.pem");
        let cert_pem = dir.path().join("cert.pem");
        let key_pem = dir.path().join("key.pem");
        crate::process::write_file(&ca_pem, ca_cert.pem());
        crate::process::write_file(&cert_pem, leaf_cert.pem());
        crate::process::write_file(&key_pem, leaf_key.serialize_pem());
        Certs {
            ca_pem,
            cert_pem,
            key_pem,
            dir,
        }
    }
}
