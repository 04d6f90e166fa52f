//! Container image references: just enough of the distribution reference grammar to tell the
//! tag and digest apart from a registry host with a port (`registry:5000/app`).

/// The parts of an image reference that rules look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef<'a> {
    /// Everything before the tag and digest.
    pub repository: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    pub fn parse(image: &'a str) -> ImageRef<'a> {
        let (rest, digest) = match image.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (image, None),
        };
        // A tag is a colon after the last slash; a colon before it belongs to a registry port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        ImageRef {
            repository,
            tag: tag.filter(|t| !t.is_empty()),
            digest,
        }
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
        self.digest.is_some_and(|d| !d.is_empty())
    }

    /// Whether the reference points at a moving target: no digest and a tag from `mutable`.
    pub fn has_mutable_tag(&self, mutable: &[String]) -> bool {
        !self.is_pinned_by_digest()
            && self
                .effective_tag()
                .is_some_and(|tag| mutable.iter().any(|m| m == tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tags_digests_and_registry_ports() {
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
            ("app@sha256:abc", "app", None, Some("sha256:abc")),
            ("app:v1@sha256:abc", "app", Some("v1"), Some("sha256:abc")),
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
                ImageRef {
                    repository,
                    tag,
                    digest
                },
                "{image}"
            );
        }
    }

    #[test]
    fn no_tag_means_latest_and_a_digest_pins() {
        let mutable = vec!["latest".to_string(), "dev".to_string()];
        assert!(ImageRef::parse("nginx").has_mutable_tag(&mutable));
        assert!(ImageRef::parse("nginx:dev").has_mutable_tag(&mutable));
        assert!(!ImageRef::parse("nginx:1.25").has_mutable_tag(&mutable));
        assert!(!ImageRef::parse("nginx:latest@sha256:abc").has_mutable_tag(&mutable));
        assert!(!ImageRef::parse("nginx@sha256:abc").has_mutable_tag(&mutable));
    }
}
