#!/usr/bin/env bash
# Builds weft's images on a machine that reaches no container registry (no image can be
# pulled), from what this machine has:
#   weft-base:local        busybox (a shell and the tools the compose file's `certs` step
#                          uses), the C libraries `ldd` lists for the binaries, CA certificates
#   weft:latest            deploy/Dockerfile on that base, with the binaries of BIN_DIR
#   weft-prometheus:local  Debian's prometheus binary on the same base (when installed)
# usage: deploy/build-local-image.sh [BIN_DIR] [TAG]
#   BIN_DIR  where weft-coordinator, weft-worker and weftctl are (default: target/release,
#            built first with `cargo build --release --locked --bins` if missing)
#   TAG      the weft image's tag (default weft:latest, what docker-compose.yml uses)
# Needs: docker, busybox-static (apt-get install busybox-static), binutils' strip; for the
# Prometheus image, Debian's prometheus package.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release}
tag=${2:-weft:latest}
binaries=(weft-coordinator weft-worker weftctl)

if [ ! -x "$bin/weft-coordinator" ] && [ "$bin" = target/release ]; then
    cargo build --release --locked --bins
fi
for b in "${binaries[@]}"; do
    [ -x "$bin/$b" ] || { echo "build-local-image: $bin/$b is missing" >&2; exit 2; }
done
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ! "$busybox" --list | grep -qx sh; then
    echo "build-local-image: needs busybox (apt-get install busybox-static)" >&2
    exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The base: a root filesystem of a few megabytes, imported as an image.
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc/ssl/certs,tmp,root,var/lib}
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for tool in $("$busybox" --list); do
    [ -e "$root/bin/$tool" ] || ln -s busybox "$root/bin/$tool"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
printf 'root:*:19000:0:99999:7:::\n' >"$root/etc/shadow"
chmod 0640 "$root/etc/shadow"
echo 'hosts: files dns' >"$root/etc/nsswitch.conf"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
libs() { ldd "$1" | awk '/=> \// { print $3 } /^[[:space:]]*\/[^ ]+ \(/ { print $1 }'; }
extra=()
command -v prometheus >/dev/null && extra+=("$(command -v prometheus)")
for f in "${binaries[@]/#/$bin/}" "${extra[@]}"; do libs "$f"; done | sort -u | while read -r lib; do
    cp -L --parents "$lib" "$root"
done
tar -C "$root" -c . | docker import -c 'CMD ["/bin/sh"]' - weft-base:local >/dev/null

# weft: the same Dockerfile operators use, its stages on the local base, the binaries
# copied (debug information stripped: the image is for running, not debugging).
ctx=$work/context
mkdir -p "$ctx/prebuilt"
for b in "${binaries[@]}"; do
    strip --strip-debug -o "$ctx/prebuilt/$b" "$bin/$b"
done
docker build -q -f deploy/Dockerfile --build-arg BUILDER=weft-base:local --build-arg BASE=weft-base:local \
    -t "$tag" "$ctx" >/dev/null
echo "built $tag (from $bin) on weft-base:local"

if [ ${#extra[@]} -gt 0 ]; then
    pctx=$work/prometheus
    mkdir -p "$pctx"
    cp "$(command -v prometheus)" "$pctx/prometheus"
    cat >"$pctx/Dockerfile" <<'DOCKERFILE'
FROM weft-base:local
COPY prometheus /bin/prometheus
RUN mkdir -p /prometheus /etc/prometheus && chown nobody:nogroup /prometheus
USER nobody
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
DOCKERFILE
    docker build -q -t weft-prometheus:local "$pctx" >/dev/null
    echo "built weft-prometheus:local from $(command -v prometheus)"
fi
