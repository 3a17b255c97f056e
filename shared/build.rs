//! Mozilla's root certificates (`webpki-root-certs`) as rustls trust anchors,
//! parsed here at build time: `shared::tls::public_tls_config` then trusts
//! them without parsing ~120 certificates at run time (~1 ms of CPU on a
//! cold start). Same bundle as media's connector, which takes the
//! certificates themselves.

use std::fmt::Write;

fn main() {
    let mut out = String::from(
        "/// Mozilla's roots (`webpki-root-certs`) as trust anchors, made by build.rs.\n\
         pub static MOZILLA_ANCHORS: &[rustls::pki_types::TrustAnchor<'static>] = &[\n",
    );
    let der = |bytes: &[u8]| {
        let mut s = String::from("rustls::pki_types::Der::from_slice(b\"");
        for b in bytes {
            write!(s, "\\x{b:02x}").unwrap();
        }
        s.push_str("\")");
        s
    };
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let anchor = webpki::anchor_from_trusted_cert(cert).expect("a Mozilla root parses");
        let constraints = match &anchor.name_constraints {
            Some(nc) => format!("Some({})", der(nc.as_ref())),
            None => "None".into(),
        };
        writeln!(
            out,
            "    rustls::pki_types::TrustAnchor {{ subject: {}, subject_public_key_info: {}, name_constraints: {constraints} }},",
            der(anchor.subject.as_ref()),
            der(anchor.subject_public_key_info.as_ref()),
        )
        .unwrap();
    }
    out.push_str("];\n");
    let path = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("mozilla_anchors.rs");
    std::fs::write(path, out).unwrap();
    println!("cargo::rerun-if-changed=build.rs");
}
