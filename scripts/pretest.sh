#!/usr/bin/env bash
# Make sure the system pieces the GPU tests need are present:
#   - /usr/bin/chromium (browser project; Playwright drives it via executablePath, no `playwright install`)
#   - Chromium's bundled SwiftShader Vulkan ICD (software WebGPU for Chromium and for Dawn in Node)
#   - the Vulkan loader libvulkan.so.1 (Dawn for Node loads it)
# Idempotent: does nothing when everything is already there.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
SWIFTSHADER_ICD=/usr/lib/chromium/vk_swiftshader_icd.json
PACKAGES=(chromium libvulkan1)

have_vulkan_loader() {
  { command -v ldconfig >/dev/null 2>&1 && ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; } ||
    { /sbin/ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; }
}

all_present() {
  [[ -x "$CHROMIUM" && -f "$SWIFTSHADER_ICD" ]] && have_vulkan_loader
}

if all_present; then
  exit 0
fi

echo "pretest: missing system dependencies (need $CHROMIUM, $SWIFTSHADER_ICD, libvulkan.so.1)." >&2

if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "pretest: installing ${PACKAGES[*]} with apt-get ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${PACKAGES[@]}"
  if all_present; then
    echo "pretest: system dependencies installed." >&2
    exit 0
  fi
  echo "pretest: apt-get finished but dependencies are still missing." >&2
  exit 1
fi

cat >&2 <<MSG
pretest: cannot install automatically (need root and apt-get). Please run:

    sudo apt-get install chromium libvulkan1

MSG
exit 1
