# Sourced by the device scripts (scripts/gpu/*.sh device modes,
# benchmarks/gpu/old_vs_new.sh) on the GPU machine: unpacks the carried
# binaries (each CARRY/bin*/ travels as CARRY/bin*.tar.xz: bin, and bin-old
# for an old binary beside the new) and puts the machine's CUDA libraries
# (cuBLASLt) on the loader's path.
unpack_carried_binaries() {
  local archive dir
  for archive in "$CARRY"/bin*.tar.xz; do
    [[ -f $archive && ! -d $CARRY/$(basename "$archive" .tar.xz) ]] && tar -C "$CARRY" -xJf "$archive"
  done
  for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    [[ -d $dir ]] && export LD_LIBRARY_PATH=$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  done
  return 0
}
