#!/usr/bin/env bash
# Build the rbd-luks-agent container image with podman (or buildah), without a
# registry and without a Docker engine.
#
#   container/build-image.sh [--root DIR --runroot DIR] [--tag TAG]...
#
#   --root DIR, --runroot DIR  private container storage (both or neither).
#                              Storage driver: $CONTAINER_STORAGE_DRIVER, else
#                              the one DIR already holds images of, else
#                              overlay (vfs works too, 3x slower, 5x the disk).
#                              Without them: the tool's default storage.
#   --tag TAG                  image name, repeatable
#                              (default localhost/rbd-luks-agent:VERSION).
#
# Environment: VERSION (default: the Makefile's), BASE_IMAGE (default
# localhost/debian:bookworm-slim), DEBIAN_MIRROR / DEBIAN_SECURITY_MIRROR
# (default: the machine's apt sources), BUILD_TIMEOUT_S (default 1800),
# CONTAINER_TOOL (podman or buildah; default podman when installed).
#
# 1. The base image, when the storage lacks it: a debootstrap --variant=minbase
#    bookworm rootfs from the configured Debian mirror, slimmed the way
#    Debian's own -slim images are (no docs, man pages or locales) and cached as
#    build/container/base/rootfs-bookworm-ARCH.tar, then `podman import`ed.
#    A second run imports the cached tarball (or finds the image) at once.
# 2. A clean copy of the source tree (the files git knows, tracked or not
#    ignored; build/ and .git stay out) in a temp dir as the build context.
# 3. podman build --pull=never (nothing is ever fetched from a registry),
#    format docker (so HEALTHCHECK is kept), layers cached between runs.
# Prints the image id and size on the last line: "image ID SIZE_BYTES TAG"
# (SIZE_BYTES is "-" with buildah, which only reports a rounded size).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cache=$root/build/container
suite=bookworm

die() { echo "build-image: $*" >&2; exit 1; }
log() { echo "build-image: $*" >&2; }
usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

storage_root='' storage_runroot='' tags=()
while [ $# -gt 0 ]; do
    case $1 in
        --root) [ $# -ge 2 ] || usage; storage_root=$2; shift 2 ;;
        --runroot) [ $# -ge 2 ] || usage; storage_runroot=$2; shift 2 ;;
        --tag) [ $# -ge 2 ] || usage; tags+=("$2"); shift 2 ;;
        -h|--help) usage ;;
        *) echo "build-image: unknown argument: $1" >&2; usage ;;
    esac
done
if { [ -n "$storage_root" ] && [ -z "$storage_runroot" ]; } ||
   { [ -z "$storage_root" ] && [ -n "$storage_runroot" ]; }; then
    die "--root and --runroot go together"
fi

version=${VERSION:-$(sed -n 's/^VERSION *:\{0,1\}= *//p' "$root/Makefile" | head -n1)}
[ -n "$version" ] || die "no VERSION in the environment or the Makefile"
[ ${#tags[@]} -gt 0 ] || tags=("localhost/rbd-luks-agent:$version")
base_image=${BASE_IMAGE:-localhost/debian:$suite-slim}
build_timeout=${BUILD_TIMEOUT_S:-1800}

# The tool, and its storage options.
store=()
if [ -n "$storage_root" ]; then
    mkdir -p "$storage_root" "$storage_runroot"
    driver=${CONTAINER_STORAGE_DRIVER:-}
    if [ -z "$driver" ]; then
        # The driver the storage was made with (another one cannot open it).
        driver=overlay
        for d in overlay vfs; do [ -d "$storage_root/$d-images" ] && { driver=$d; break; }; done
    fi
    store=(--root "$(realpath "$storage_root")" --runroot "$(realpath "$storage_runroot")"
           --storage-driver "$driver")
fi
tool=${CONTAINER_TOOL:-}
if [ -n "$tool" ]; then
    case $tool in podman|buildah) ;; *) die "CONTAINER_TOOL must be podman or buildah" ;; esac
    command -v "$tool" >/dev/null 2>&1 || die "$tool not installed: run tests/lib/deps.sh container"
elif command -v podman >/dev/null 2>&1; then
    tool=podman
elif command -v buildah >/dev/null 2>&1; then
    tool=buildah
else
    die "neither podman nor buildah is installed: run tests/lib/deps.sh container"
fi
ctl() { timeout -s KILL 300 "$tool" "${store[@]}" "$@"; }

image_exists() {
    if [ "$tool" = podman ]; then ctl image exists "$1"; else ctl inspect --type image "$1" >/dev/null 2>&1; fi
}

# Serialise runs that share this checkout's cache (two builds into one storage
# would fight over the same tarball and tags).
mkdir -p "$cache"
exec {lockfd}>"$cache/.lock"
flock -w 1800 "$lockfd" || die "another build-image run holds $cache/.lock"

# --- 1. the base image ---------------------------------------------------------------

# The machine's Debian mirror for SUITE (e.g. bookworm or bookworm-security), from
# deb822 .sources files or one-line sources.list entries.
apt_mirror_for() {
    local want=$1 f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # deb822: stanzas separated by blank lines; Types, URIs, Suites fields.
        awk -v want="$want" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " want " ") && uris != "") {
                    split(uris, u, " "); print u[1]; found = 1; exit
                }
                types = ""; uris = ""; suites = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^#/ { next }
            tolower($1) == "types:"  { $1 = ""; types = $0; sub(/^ +/, "", types) }
            tolower($1) == "uris:"   { $1 = ""; uris = $0; sub(/^ +/, "", uris) }
            tolower($1) == "suites:" { $1 = ""; suites = $0; sub(/^ +/, "", suites) }
            END { if (!found) flush() }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        # deb [options] URI SUITE COMPONENT...
        awk -v want="$want" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == want) { print $i; exit }
            }' "$f"
    done
}

make_rootfs_tar() { # OUT: debootstrap, slim, tar
    local out=$1 mirror security dir
    command -v debootstrap >/dev/null 2>&1 ||
        die "debootstrap not installed: run tests/lib/deps.sh container"
    [ "$(id -u)" -eq 0 ] || die "making the base image runs debootstrap, which needs root"
    mirror=${DEBIAN_MIRROR:-$(apt_mirror_for "$suite" | head -n1)}
    security=${DEBIAN_SECURITY_MIRROR:-$(apt_mirror_for "$suite-security" | head -n1)}
    [ -n "$mirror" ] || die "no Debian mirror for $suite in /etc/apt/sources*; set DEBIAN_MIRROR"
    dir=$(mktemp -d "$cache/base/rootfs.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$dir'" EXIT
    log "debootstrap --variant=minbase $suite from $mirror (about a minute)"
    local keyring=()
    [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] &&
        keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
    if ! timeout -s KILL 900 debootstrap --variant=minbase "${keyring[@]}" "$suite" "$dir" "$mirror" \
            >"$cache/base/debootstrap.log" 2>&1; then
        tail -n 20 "$cache/base/debootstrap.log" >&2
        die "debootstrap failed (log: $cache/base/debootstrap.log)"
    fi

    # Slim it as Debian's -slim images are: dpkg leaves out docs, man pages and
    # translations from now on, and what debootstrap installed of them goes.
    cat >"$dir/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
# Like Debian's -slim images: no documentation or translations in the image.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$dir"/usr/share/man/* "$dir"/usr/share/groff/* "$dir"/usr/share/info/* \
        "$dir"/usr/share/lintian/* "$dir"/usr/share/linda/*
    find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'EOF'
# No package cache or translations kept in image layers.
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
Acquire::GzipIndexes "true";
Acquire::CompressionTypes::Order:: "gz";
APT::AutoRemove::SuggestsImportant "false";
EOF
    # No daemon starts from a package's postinst inside a build.
    printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
    chmod 0755 "$dir/usr/sbin/policy-rc.d"
    # apt sources as Debian's images have them: the suite, its updates, security.
    rm -f "$dir/etc/apt/sources.list"
    {
        printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' "$mirror" "$suite" "$suite"
        printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
        if [ -n "$security" ]; then
            printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$security" "$suite"
            printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
        fi
    } >"$dir/etc/apt/sources.list.d/debian.sources"
    # debootstrap installs the release as it was; take its security and point
    # updates now, in the base layer (an upgrade in a later layer would keep
    # both versions in the image). In a mount namespace of its own, so /proc
    # goes away with it.
    log "apt-get upgrade in the new rootfs"
    # shellcheck disable=SC2016
    if ! timeout -s KILL 600 unshare --mount --fork sh -c '
            mount -t proc proc "$1/proc" &&
            DEBIAN_FRONTEND=noninteractive chroot "$1" sh -c \
                "apt-get update && apt-get -y upgrade && apt-get clean"' sh "$dir" \
            >>"$cache/base/debootstrap.log" 2>&1; then
        tail -n 20 "$cache/base/debootstrap.log" >&2
        die "apt-get upgrade in the rootfs failed (log: $cache/base/debootstrap.log)"
    fi
    # Nothing of this machine: its name and resolver (the runtime provides
    # them), the package cache, logs and lists of the bootstrap.
    rm -f "$dir/etc/hostname" "$dir/etc/resolv.conf" "$dir/etc/hosts"
    : >"$dir/etc/machine-id" 2>/dev/null || true
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin "$dir"/var/lib/apt/lists/* \
        "$dir"/var/log/*.log "$dir"/var/log/apt/* "$dir"/var/cache/debconf/*-old \
        "$dir"/var/lib/dpkg/*-old "$dir"/tmp/* "$dir"/root/.bash_history
    # mktemp made the dir 0700; it becomes the image's / and must be 0755.
    chmod 0755 "$dir"
    tar -C "$dir" --numeric-owner --sort=name --xattrs -cf "$out.tmp" .
    mv -f "$out.tmp" "$out"
    rm -rf "$dir"
    trap - EXIT
}

arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
base_tar=$cache/base/rootfs-$suite-$arch.tar
if image_exists "$base_image"; then
    log "base image $base_image present"
else
    mkdir -p "$cache/base"
    t0=$(date +%s)
    if [ -s "$base_tar" ]; then
        log "base rootfs from the cache: $base_tar"
    else
        make_rootfs_tar "$base_tar"
        log "base rootfs made in $(($(date +%s) - t0)) s: $base_tar ($(du -m "$base_tar" | cut -f1) MB)"
    fi
    changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
             --change 'CMD ["bash"]')
    if [ "$tool" = podman ]; then
        ctl import "${changes[@]}" --message "debootstrap --variant=minbase $suite, slimmed" \
            "$base_tar" "$base_image" >/dev/null || die "podman import of $base_tar failed"
    else
        # buildah has no import: a container from scratch with the tarball added.
        ctr=$(ctl from scratch) || die "buildah from scratch failed"
        if ! { ctl add "$ctr" "$base_tar" / >/dev/null &&
               ctl config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                   --cmd bash "$ctr" &&
               ctl commit --rm "$ctr" "$base_image" >/dev/null; }; then
            ctl rm "$ctr" >/dev/null 2>&1
            die "buildah import of $base_tar failed"
        fi
    fi
    log "base image $base_image imported ($(($(date +%s) - t0)) s in all)"
fi

# --- 2. a clean copy of the source tree ------------------------------------------------

ctx=$(mktemp -d "${TMPDIR:-/tmp}/rbd-luks-agent-ctx.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Tracked and untracked-but-not-ignored files as they are in the working tree
    # (what `make` would build); deleted ones skipped.
    (cd "$root" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do
            if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
        done | tar --null -T - -cf -) | tar -C "$ctx" -xf -
    revision=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
    [ -z "$(git -C "$root" status --porcelain 2>/dev/null)" ] || revision=$revision-dirty
else
    tar -C "$root" --exclude=./build --exclude=./.git --exclude='*.o' -cf - . | tar -C "$ctx" -xf -
    revision=unknown
fi
[ -f "$ctx/container/Dockerfile" ] || die "no container/Dockerfile in the source copy"

# --- 3. the build ----------------------------------------------------------------------

tag_args=()
for t in "${tags[@]}"; do tag_args+=(--tag "$t"); done
build_args=(--build-arg "BASE_IMAGE=$base_image" --build-arg "VERSION=$version"
            --build-arg "REVISION=$revision")
log "building ${tags[*]} (version $version, revision $revision) with $tool"
t0=$(date +%s)
if [ "$tool" = podman ]; then
    timeout -s KILL "$build_timeout" podman "${store[@]}" build --pull=never --isolation chroot \
        --network host --format docker --layers "${tag_args[@]}" "${build_args[@]}" \
        -f "$ctx/container/Dockerfile" "$ctx" >&2 || die "podman build failed (or passed ${build_timeout} s)"
else
    timeout -s KILL "$build_timeout" buildah "${store[@]}" bud --pull=never --isolation chroot \
        --network host --format docker --layers "${tag_args[@]}" "${build_args[@]}" \
        -f "$ctx/container/Dockerfile" "$ctx" >&2 || die "buildah bud failed (or passed ${build_timeout} s)"
fi
log "built in $(($(date +%s) - t0)) s"

if [ "$tool" = podman ]; then
    info=$(ctl image inspect --format '{{.Id}} {{.Size}}' "${tags[0]}") || die "cannot inspect ${tags[0]}"
    id=${info%% *} size=${info##* }
    human="$((size / 1000000)) MB"
else
    # buildah reports the size only rounded, as text ("170 MB").
    id=$(ctl inspect --type image --format '{{.FromImageID}}' "${tags[0]}") || die "cannot inspect ${tags[0]}"
    human=$(ctl images --json "${tags[0]}" | sed -n 's/^ *"size": "\(.*\)",$/\1/p' | head -n1)
    size=-
fi
log "image ${tags[0]}: id ${id:0:12}, size $human"
echo "image $id $size ${tags[0]}"
