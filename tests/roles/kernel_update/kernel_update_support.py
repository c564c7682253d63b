"""What the kernel_update container tests and their fixtures share: the kernels in the local repository."""

OLD_RELEASE = "6.1.0-50-amd64"  # the lab image's own kernel package (bookworm/main 6.1.176-1)
NEW_VERSION = "6.1.300-1"  # SYNTHETIC
NEW_RELEASE = "6.1.0-90-amd64"  # SYNTHETIC
