//! `sealrun features`: what this runtime supports, as OCI features JSON.

use anyhow::{Context, Result};
use libcontainer::oci_spec::runtime::{
    ApparmorBuilder, CgroupBuilder, FeaturesBuilder, IDMapBuilder, IntelRdtBuilder,
    LinuxFeatureBuilder, LinuxNamespaceType, LinuxSeccompAction, MountExtensionsBuilder,
    SeccompBuilder, SelinuxBuilder, VERSION,
};
use libcontainer::syscall::linux::MountOption;

const HOOKS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

pub fn features() -> Result<()> {
    let mut capabilities: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    capabilities.sort();

    let linux = LinuxFeatureBuilder::default()
        .namespaces(vec![
            LinuxNamespaceType::Cgroup,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Time,
            LinuxNamespaceType::User,
            LinuxNamespaceType::Uts,
        ])
        .capabilities(capabilities)
        .cgroup(
            CgroupBuilder::default()
                .v1(true)
                .v2(true)
                .systemd(true)
                .systemd_user(true)
                .rdma(false)
                .build()
                .context("failed to build cgroup features")?,
        )
        // libcontainer's libseccomp binding, linked statically.
        .seccomp(
            SeccompBuilder::default()
                .enabled(true)
                .actions(vec![
                    LinuxSeccompAction::ScmpActKill,
                    LinuxSeccompAction::ScmpActKillThread,
                    LinuxSeccompAction::ScmpActKillProcess,
                    LinuxSeccompAction::ScmpActTrap,
                    LinuxSeccompAction::ScmpActErrno,
                    LinuxSeccompAction::ScmpActNotify,
                    LinuxSeccompAction::ScmpActTrace,
                    LinuxSeccompAction::ScmpActLog,
                    LinuxSeccompAction::ScmpActAllow,
                ])
                .operators(
                    [
                        "SCMP_CMP_NE",
                        "SCMP_CMP_LT",
                        "SCMP_CMP_LE",
                        "SCMP_CMP_EQ",
                        "SCMP_CMP_GE",
                        "SCMP_CMP_GT",
                        "SCMP_CMP_MASKED_EQ",
                    ]
                    .map(String::from)
                    .to_vec(),
                )
                .build()
                .context("failed to build seccomp features")?,
        )
        .apparmor(
            ApparmorBuilder::default()
                .enabled(true)
                .build()
                .context("failed to build apparmor features")?,
        )
        .mount_extensions(
            MountExtensionsBuilder::default()
                .idmap(
                    IDMapBuilder::default()
                        .enabled(false)
                        .build()
                        .context("failed to build idmap features")?,
                )
                .build()
                .context("failed to build mount extension features")?,
        )
        .selinux(
            SelinuxBuilder::default()
                .enabled(false)
                .build()
                .context("failed to build selinux features")?,
        )
        .intel_rdt(
            IntelRdtBuilder::default()
                .enabled(true)
                .build()
                .context("failed to build intel rdt features")?,
        )
        .build()
        .context("failed to build linux features")?;

    let features = FeaturesBuilder::default()
        .oci_version_min("1.0.0".to_owned())
        .oci_version_max(VERSION.to_owned())
        .hooks(HOOKS.map(String::from).to_vec())
        .mount_options(MountOption::known_options())
        .linux(linux)
        .build()
        .context("failed to build features")?;
    println!("{}", serde_json::to_string_pretty(&features)?);
    Ok(())
}
