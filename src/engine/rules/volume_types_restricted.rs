//! `volume-types-restricted`: pods use only the volume types Pod Security restricted allows.

use crate::engine::cel::{Cel, RuleCel, pod};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "volume-types-restricted";

/// The volume sources restricted does not allow, as the pod spec names them.
pub const OTHER_TYPES: &[&str] = &[
    "hostPath",
    "nfs",
    "iscsi",
    "fc",
    "rbd",
    "cephfs",
    "glusterfs",
    "gitRepo",
    "awsElasticBlockStore",
    "gcePersistentDisk",
    "azureDisk",
    "azureFile",
    "cinder",
    "flexVolume",
    "flocker",
    "portworxVolume",
    "quobyte",
    "scaleIO",
    "storageos",
    "vsphereVolume",
    "photonPersistentDisk",
    "image",
];

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Security,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "every volume is configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected or secret",
    why: "the other volume types reach storage on the node or on the network directly, around the access control of PersistentVolumeClaims",
    fix: "mount storage through a persistentVolumeClaim (or configMap, secret, emptyDir, projected, csi, ephemeral)",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(VolumeTypesRestricted)),
};

struct VolumeTypesRestricted;

impl Rule for VolumeTypesRestricted {
    fn cel(&self) -> Option<RuleCel> {
        Some(RuleCel::one(
            pod::spec().opt("volumes").or_empty().all("v", |v| {
                v.all("k", |k| k.is_in(Cel::strs(OTHER_TYPES)).negate())
            }),
            "a volume is of a type other than configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected and secret",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        for volume in pod.spec.volumes.iter().flatten() {
            let other = [
                ("hostPath", volume.host_path.is_some()),
                ("nfs", volume.nfs.is_some()),
                ("iscsi", volume.iscsi.is_some()),
                ("fc", volume.fc.is_some()),
                ("rbd", volume.rbd.is_some()),
                ("cephfs", volume.cephfs.is_some()),
                ("glusterfs", volume.glusterfs.is_some()),
                ("gitRepo", volume.git_repo.is_some()),
                (
                    "awsElasticBlockStore",
                    volume.aws_elastic_block_store.is_some(),
                ),
                ("gcePersistentDisk", volume.gce_persistent_disk.is_some()),
                ("azureDisk", volume.azure_disk.is_some()),
                ("azureFile", volume.azure_file.is_some()),
                ("cinder", volume.cinder.is_some()),
                ("flexVolume", volume.flex_volume.is_some()),
                ("flocker", volume.flocker.is_some()),
                ("portworxVolume", volume.portworx_volume.is_some()),
                ("quobyte", volume.quobyte.is_some()),
                ("scaleIO", volume.scale_io.is_some()),
                ("storageos", volume.storageos.is_some()),
                ("vsphereVolume", volume.vsphere_volume.is_some()),
                (
                    "photonPersistentDisk",
                    volume.photon_persistent_disk.is_some(),
                ),
                ("image", volume.image.is_some()),
            ];
            if let Some((kind, _)) = other.iter().find(|(_, set)| *set) {
                out.push_with(|| Finding::new(
                    ID,
                    format!("{}.volumes[{}]", pod.path.field, volume.name),
                    format!(
                        "volume {} is a {kind} volume; use a persistentVolumeClaim (or configMap, secret, emptyDir, projected, csi, ephemeral)",
                        volume.name
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    #[test]
    fn flags_node_and_network_volumes() {
        let mut spec = one(json!({}));
        spec["volumes"] = json!([
            {"name": "host", "hostPath": {"path": "/var/log"}},
            {"name": "share", "nfs": {"server": "nfs.example.com", "path": "/exports"}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}
        ]);
        assert_eq!(
            fields(&run_enabled(ID, &mk_deployment(2, spec))),
            [
                "spec.template.spec.volumes[host]",
                "spec.template.spec.volumes[share]"
            ]
        );
    }

    #[test]
    fn passes_the_allowed_types() {
        let mut spec = one(json!({}));
        spec["volumes"] = json!([
            {"name": "a", "configMap": {"name": "c"}}, {"name": "b", "secret": {"secretName": "s"}},
            {"name": "c", "emptyDir": {}}, {"name": "d", "projected": {"sources": []}},
            {"name": "e", "downwardAPI": {}}, {"name": "f", "csi": {"driver": "d"}},
            {"name": "g", "persistentVolumeClaim": {"claimName": "x"}},
            {"name": "h", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}
        ]);
        assert!(run_enabled(ID, &mk_pod(spec)).is_empty());
    }
}
