//! Certificates for tests, made with `openssl` like `scripts/control-plane.sh` makes the plane's: serving
//! certificates for the server under test, and client certificates from the plane's front-proxy CA or from a
//! CA of the test's own.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::ControlPlane;

/// What a certificate is for.
#[derive(Clone, Copy)]
pub enum Usage {
    Server,
    Client,
}

/// A certificate and its key, as PEM files.
#[derive(Clone, Debug)]
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Issued {
    /// Certificate then key, in one PEM (what `reqwest::Identity::from_pem` takes).
    pub fn identity_pem(&self) -> Vec<u8> {
        let mut pem = std::fs::read(&self.cert).expect("read certificate");
        pem.extend(std::fs::read(&self.key).expect("read key"));
        pem
    }
}

/// A CA: the plane's cluster CA (`ca`), its front-proxy CA (`front-proxy-ca`), or one made by [`new_ca`].
pub struct Ca {
    pub cert: PathBuf,
    key: PathBuf,
}

impl Ca {
    /// The CA kube-apiserver trusts for client certificates and whose certificate clients trust.
    pub fn cluster(plane: &ControlPlane) -> Ca {
        Ca::in_dir(plane.dir(), "ca")
    }

    /// The CA of kube-apiserver's `--requestheader-client-ca-file`.
    pub fn front_proxy(plane: &ControlPlane) -> Ca {
        Ca::in_dir(plane.dir(), "front-proxy-ca")
    }

    fn in_dir(dir: &Path, name: &str) -> Ca {
        Ca {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        }
    }

    /// A new self-signed CA in `dir`.
    pub fn new(dir: &Path, name: &str) -> Ca {
        let ca = Ca::in_dir(dir, name);
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            path(&ca.key),
            "-out",
            path(&ca.cert),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        ]);
        ca
    }

    /// A certificate for `cn` (with `sans`, IP addresses or DNS names, for a server) in `dir` as
    /// `<file>.crt`/`<file>.key`.
    pub fn issue(&self, dir: &Path, file: &str, cn: &str, sans: &[&str], usage: Usage) -> Issued {
        let issued = Issued {
            cert: dir.join(format!("{file}.crt")),
            key: dir.join(format!("{file}.key")),
        };
        let csr = dir.join(format!("{file}.csr"));
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            path(&issued.key),
            "-out",
            path(&csr),
            "-subj",
            &format!("/CN={cn}"),
        ]);
        let usage = match usage {
            Usage::Server => "serverAuth",
            Usage::Client => "clientAuth",
        };
        let mut extensions = format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage={usage}\n"
        );
        if !sans.is_empty() {
            let sans: Vec<String> = sans
                .iter()
                .map(|san| match san.parse::<std::net::IpAddr>() {
                    Ok(_) => format!("IP:{san}"),
                    Err(_) => format!("DNS:{san}"),
                })
                .collect();
            extensions.push_str(&format!("subjectAltName={}\n", sans.join(",")));
        }
        let ext = dir.join(format!("{file}.ext"));
        std::fs::write(&ext, extensions).expect("write extensions");
        let serial = format!("0x{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            path(&csr),
            "-CA",
            path(&self.cert),
            "-CAkey",
            path(&self.key),
            "-days",
            "2",
            "-sha256",
            "-set_serial",
            &serial,
            "-extfile",
            path(&ext),
            "-out",
            path(&issued.cert),
        ]);
        issued
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
