//! Container image references, validated against the distribution reference grammar (the one
//! container runtimes use) by the `container_image_dist_ref` crate, then split into the parts
//! rules look at: the tag, the digest, and the repository (a colon before the last slash
//! belongs to a registry port, `registry:5000/app`).

use super::cel::Cel;

/// The parts of a valid image reference that rules look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef<'a> {
    /// Everything before the tag and digest.
    pub repository: &'a str,
    pub tag: Option<&'a str>,
    /// `algorithm:hex`, checked for its algorithm's length (64 hex digits for sha256).
    pub digest: Option<&'a str>,
}

/// An image string that is not a reference a runtime can pull.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidImage {
    /// What is wrong, in a few words.
    pub reason: &'static str,
}

impl<'a> ImageRef<'a> {
    pub fn parse(image: &'a str) -> Result<ImageRef<'a>, InvalidImage> {
        if let Err(e) = container_image_dist_ref::ImgRef::new(image) {
            return Err(InvalidImage {
                reason: describe(&format!("{e:?}")),
            });
        }
        // Valid references have at most one `@`, and it starts the digest.
        let (rest, digest) = match image.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (image, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        Ok(ImageRef {
            repository,
            tag,
            digest,
        })
    }

    /// The tag the runtime will pull: an image without tag or digest means `latest`.
    pub fn effective_tag(&self) -> Option<&'a str> {
        match (self.tag, self.digest) {
            (Some(tag), _) => Some(tag),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }

    /// A digest pins the content whatever the tag says.
    pub fn is_pinned_by_digest(&self) -> bool {
        self.digest.is_some()
    }

    /// Whether the reference points at a moving target: no digest and a tag from `mutable`.
    pub fn has_mutable_tag(&self, mutable: &[String]) -> bool {
        !self.is_pinned_by_digest()
            && self
                .effective_tag()
                .is_some_and(|tag| mutable.iter().any(|m| m == tag))
    }
}

/// The crate's error kind, in words (its `Debug` names the grammar element at fault).
fn describe(kind: &str) -> &'static str {
    if kind.contains("Digest") || kind.contains("Algorithm") || kind.contains("Encoded") {
        "its digest is not algorithm:hex of the right length"
    } else if kind.contains("TooLong") {
        "it is too long"
    } else if kind.contains("Tag") {
        "its tag is empty or has characters a tag cannot have"
    } else if kind.contains("Empty") || kind.contains("NoInput") {
        "it is empty"
    } else {
        "its name has characters an image name cannot have (lowercase letters, digits, . _ - / and a registry host)"
    }
}

/// distribution/reference's grammar for an image reference, anchored: an optional registry host
/// and port, path components of lowercase alphanumerics and separators, an optional tag of at
/// most 128 characters, an optional digest (RE2 repeats at most 1000 times, so the digest's
/// ceiling of 1024 hex digits is checked apart).
const REFERENCE: &str = concat!(
    r"^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*",
    r"(?::[0-9]+)?/|\[[a-fA-F0-9:]+\](?::[0-9]+)?/)?",
    r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*",
    r"(?::[\w][\w.-]{0,127})?",
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$",
);

/// An image reference read in CEL the way [`ImageRef::parse`] reads it: whether it is valid,
/// whether it has a digest, and its effective tag (`latest` when it has none).
pub struct CelImage {
    pub valid: Cel,
    pub has_digest: Cel,
    pub tag: Cel,
}

/// `image` (a CEL string) as a reference.
pub fn cel_reference(image: Cel) -> CelImage {
    let rest = image
        .clone()
        .call("split", [Cel::str("@")])
        .index(Cel::int(0));
    let last = rest.clone().call(
        "substring",
        [rest
            .clone()
            .call("lastIndexOf", [Cel::str("/")])
            .plus(Cel::int(1))],
    );
    let tag = Cel::cond(
        last.clone().call("contains", [Cel::str(":")]),
        last.clone().call(
            "substring",
            [last
                .clone()
                .call("lastIndexOf", [Cel::str(":")])
                .plus(Cel::int(1))],
        ),
        Cel::str("latest"),
    );
    let name_len = rest.clone().size().minus(Cel::cond(
        last.clone().call("contains", [Cel::str(":")]),
        tag.clone().size().plus(Cel::int(1)),
        Cel::int(0),
    ));
    let digest = image.clone().call(
        "substring",
        [image
            .clone()
            .call("indexOf", [Cel::str("@")])
            .plus(Cel::int(1))],
    );
    let has_digest = image.clone().call("contains", [Cel::str("@")]);
    let encoded = digest.clone().call(
        "substring",
        [digest
            .clone()
            .call("indexOf", [Cel::str(":")])
            .plus(Cel::int(1))],
    );
    let registered_ok = Cel::every([
        encoded.size().le(Cel::int(1024)),
        digest
            .clone()
            .call("startsWith", [Cel::str("sha256:")])
            .negate()
            .or(digest
                .clone()
                .call("matches", [Cel::str("^sha256:[a-f0-9]{64}$")])),
        digest
            .clone()
            .call("startsWith", [Cel::str("sha512:")])
            .negate()
            .or(digest.call("matches", [Cel::str("^sha512:[a-f0-9]{128}$")])),
    ]);
    let valid = Cel::every([
        image.clone().call("matches", [Cel::str(REFERENCE)]),
        name_len.le(Cel::int(255)),
        has_digest.clone().negate().or(registered_ok),
    ]);
    CelImage {
        valid,
        has_digest,
        tag,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_tags_digests_and_registry_ports() {
        let at = |name: &str| format!("{name}@{DIGEST}");
        let (app_digest, tagged_digest) = (at("app"), at("app:v1"));
        let cases = [
            ("nginx", "nginx", None, None),
            ("nginx:1.25", "nginx", Some("1.25"), None),
            ("registry:5000/app", "registry:5000/app", None, None),
            (
                "registry:5000/app:v1",
                "registry:5000/app",
                Some("v1"),
                None,
            ),
            (app_digest.as_str(), "app", None, Some(DIGEST)),
            (tagged_digest.as_str(), "app", Some("v1"), Some(DIGEST)),
            (
                "ghcr.io/org/app:latest",
                "ghcr.io/org/app",
                Some("latest"),
                None,
            ),
        ];
        for (image, repository, tag, digest) in cases {
            assert_eq!(
                ImageRef::parse(image),
                Ok(ImageRef {
                    repository,
                    tag,
                    digest
                }),
                "{image}"
            );
        }
    }

    #[test]
    fn no_tag_means_latest_and_a_digest_pins() {
        let mutable = vec!["latest".to_string(), "dev".to_string()];
        let mutable_tag = |image: &str| {
            ImageRef::parse(image)
                .expect("valid")
                .has_mutable_tag(&mutable)
        };
        assert!(mutable_tag("nginx"));
        assert!(mutable_tag("nginx:dev"));
        assert!(!mutable_tag("nginx:1.25"));
        assert!(!mutable_tag(&format!("nginx:latest@{DIGEST}")));
        assert!(!mutable_tag(&format!("nginx@{DIGEST}")));
    }

    #[test]
    fn a_digest_must_be_algorithm_and_hex_of_the_right_length() {
        // Each of these once counted as pinned.
        for image in [
            "nginx:latest@x",
            "nginx@sha256:abc",
            "nginx@",
            "nginx:latest@sha256:zz",
        ] {
            assert_eq!(
                ImageRef::parse(image).map_err(|e| e.reason),
                Err("its digest is not algorithm:hex of the right length"),
                "{image}"
            );
        }
        assert!(ImageRef::parse("Shop/App:1").is_err());
        assert!(ImageRef::parse("nginx:").is_err());
    }
}
