//! ssh from a Tekton `ssh-directory` workspace: the private key to offer and the `known_hosts` the
//! server's host key must be found in. Unknown or changed host keys are refused.

use std::path::{Path, PathBuf};

use base64::Engine;

use crate::GitopsError;

/// Key file names tried in order, as OpenSSH does.
const KEY_FILES: &[&str] = &["id_ed25519", "id_ecdsa", "id_rsa"];

#[derive(Debug)]
pub(crate) struct SshDirectory {
    pub(crate) private_key: PathBuf,
    known_hosts_path: PathBuf,
    known_hosts: Vec<KnownHost>,
}

#[derive(Debug)]
struct KnownHost {
    revoked: bool,
    patterns: Vec<String>,
    key_type: String,
    key: Vec<u8>,
}

impl SshDirectory {
    pub(crate) fn load(dir: &Path) -> Result<Self, GitopsError> {
        let fail = |detail: String| GitopsError::Credentials {
            path: dir.to_owned(),
            detail,
        };
        let private_key = KEY_FILES
            .iter()
            .map(|name| dir.join(name))
            .find(|path| path.is_file())
            .ok_or_else(|| {
                fail(format!(
                    "no private key ({}) in this ssh-directory workspace; mount the Secret with the deploy key",
                    KEY_FILES.join(", ")
                ))
            })?;
        // libssh2 reports an unreadable key only as a failed login: say what is wrong up front.
        std::fs::File::open(&private_key).map_err(|e| {
            fail(format!(
                "cannot read the private key {}: {e}; mount the Secret so the step's user can read it \
                 (e.g. defaultMode 0400 with a matching fsGroup or runAsUser)",
                private_key.display()
            ))
        })?;
        let known_hosts_path = dir.join("known_hosts");
        let text = std::fs::read_to_string(&known_hosts_path).map_err(|e| {
            fail(format!(
                "reading known_hosts: {e}; host keys are always checked, so add known_hosts \
                 (the output of `ssh-keyscan <host>`) to the workspace"
            ))
        })?;
        let known_hosts = parse_known_hosts(&text);
        Ok(Self {
            private_key,
            known_hosts_path,
            known_hosts,
        })
    }

    /// Accepts the host key only if `known_hosts` lists exactly this key for `host:port`.
    pub(crate) fn check_host_key(
        &self,
        host: &str,
        port: u16,
        cert: &git2::cert::Cert<'_>,
    ) -> Result<(), GitopsError> {
        let shown_host = if port == 22 {
            host.to_owned()
        } else {
            format!("[{host}]:{port}")
        };
        let refuse = |detail: String| GitopsError::HostKey {
            host: shown_host.clone(),
            detail,
        };
        let hostkey = cert
            .as_hostkey()
            .ok_or_else(|| refuse("the server presented no ssh host key".into()))?;
        let offered = hostkey.hostkey().ok_or_else(|| {
            refuse("libgit2 did not pass the raw host key on, so it cannot be checked".into())
        })?;
        let fingerprint = hostkey
            .hash_sha256()
            .map(|hash| {
                format!(
                    "SHA256:{}",
                    base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash)
                )
            })
            .unwrap_or_else(|| "(no fingerprint)".into());
        let matching: Vec<&KnownHost> = self
            .known_hosts
            .iter()
            .filter(|entry| host_matches(&entry.patterns, &shown_host))
            .collect();
        if matching
            .iter()
            .any(|entry| entry.revoked && entry.key == offered)
        {
            return Err(refuse(format!(
                "its host key {fingerprint} is marked @revoked in {}",
                self.known_hosts_path.display()
            )));
        }
        if matching
            .iter()
            .any(|entry| !entry.revoked && entry.key == offered)
        {
            return Ok(());
        }
        if matching.is_empty() {
            let scan = if port == 22 {
                format!("ssh-keyscan {host}")
            } else {
                format!("ssh-keyscan -p {port} {host}")
            };
            return Err(refuse(format!(
                "{shown_host} is not in {}; add the output of `{scan}` \
                 after checking the fingerprint {fingerprint}",
                self.known_hosts_path.display()
            )));
        }
        let types: Vec<&str> = matching.iter().map(|e| e.key_type.as_str()).collect();
        Err(refuse(format!(
            "HOST KEY MISMATCH: the server offered {fingerprint}, which is not the key {} lists for it \
             ({}); someone may be intercepting the connection, or the server's key changed: verify, then \
             update known_hosts",
            self.known_hosts_path.display(),
            types.join(", ")
        )))
    }
}

fn parse_known_hosts(text: &str) -> Vec<KnownHost> {
    let mut entries = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next().unwrap_or_default();
        let mut revoked = false;
        if first.starts_with('@') {
            // @cert-authority lines name CA keys, which are not host keys: skip them.
            if first != "@revoked" {
                continue;
            }
            revoked = true;
            first = fields.next().unwrap_or_default();
        }
        let (Some(key_type), Some(key)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Ok(key) = base64::engine::general_purpose::STANDARD.decode(key) else {
            continue;
        };
        entries.push(KnownHost {
            revoked,
            patterns: first.split(',').map(str::to_owned).collect(),
            key_type: key_type.to_owned(),
            key,
        });
    }
    entries
}

/// OpenSSH pattern lists: `*` and `?` wildcards, `!` negates and wins; or one hashed name
/// (`|1|salt|hash`, HMAC-SHA1 of the name, as `HashKnownHosts yes` writes them).
fn host_matches(patterns: &[String], host: &str) -> bool {
    if let [pattern] = patterns
        && let Some(hashed) = pattern.strip_prefix("|1|")
    {
        return hashed_name_matches(hashed, host);
    }
    let mut matched = false;
    for pattern in patterns {
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated, host) {
                return false;
            }
        } else if glob(pattern, host) {
            matched = true;
        }
    }
    matched
}

fn hashed_name_matches(salt_and_hash: &str, host: &str) -> bool {
    let engine = base64::engine::general_purpose::STANDARD;
    let Some((salt, hash)) = salt_and_hash.split_once('|') else {
        return false;
    };
    match (engine.decode(salt), engine.decode(hash)) {
        (Ok(salt), Ok(hash)) => hmac_sha1(&salt, host.as_bytes()) == hash.as_slice(),
        _ => false,
    }
}

/// HMAC (RFC 2104) over SHA-1, the hash OpenSSH uses for known_hosts names.
fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    use sha1::{Digest, Sha1};
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha1::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha1::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn glob(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    let text: Vec<char> = text.to_lowercase().chars().collect();
    let (mut p, mut t) = (0, 0);
    let (mut star, mut star_t) = (None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some(p);
            star_t = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            star_t += 1;
            t = star_t;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let list = |s: &str| s.split(',').map(str::to_owned).collect::<Vec<_>>();
        assert!(host_matches(&list("git.example,10.0.0.1"), "git.example"));
        assert!(host_matches(&list("[127.0.0.1]:2222"), "[127.0.0.1]:2222"));
        assert!(!host_matches(&list("[127.0.0.1]:2222"), "127.0.0.1"));
        assert!(host_matches(&list("*.example"), "git.example"));
        assert!(!host_matches(
            &list("*.example,!git.example"),
            "git.example"
        ));
        assert!(host_matches(&list("gi?.example"), "git.example"));
    }

    #[test]
    fn hmac_sha1_rfc2202() {
        let mac = hmac_sha1(&[0x0b; 20], b"Hi There");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "b617318655057264e28bc0b6fb378c8ef146be00");
    }

    #[test]
    fn hashed_host_names() {
        // Written by `ssh-keygen -H` for [127.0.0.1]:2222.
        let entries = parse_known_hosts(
            "|1|fSfl/IwaLck2tF3V8iLq2xLd5sM=|tjGib1EcPU0g3fYRp/jXBXoDSyA= ssh-ed25519 \
             AAAAC3NzaC1lZDI1NTE5AAAAIHc0T6Lk2I0pyHrbLpd1CoZ6BY/Lzh9A5cK0ewHvXkyE\n",
        );
        assert_eq!(entries.len(), 1);
        assert!(host_matches(&entries[0].patterns, "[127.0.0.1]:2222"));
        assert!(!host_matches(&entries[0].patterns, "[127.0.0.1]:2223"));
        assert!(!host_matches(&entries[0].patterns, "127.0.0.1"));
    }

    #[test]
    fn known_hosts_lines() {
        let text = "# comment\n\
                    git.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==\n\
                    @revoked bad.example ssh-rsa AAAA\n\
                    @cert-authority *.example ssh-rsa AAAA\n\
                    |1|abc=|def= ssh-rsa AAAA\n\
                    broken-line\n";
        let entries = parse_known_hosts(text);
        assert_eq!(entries.len(), 3);
        assert!(entries[1].revoked);
        assert_eq!(entries[0].key_type, "ssh-ed25519");
    }
}
