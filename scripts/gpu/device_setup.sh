# Sourced by the scripts/gpu/*.sh device modes on the GPU machine: unpacks
# the carried binaries (they travel as CARRY/bin.tar.xz) and puts the
# machine's CUDA libraries (cuBLASLt) on the loader's path.
unpack_carried_binaries() {
  [[ -f $CARRY/bin.tar.xz && ! -d $CARRY/bin ]] && tar -C "$CARRY" -xJf "$CARRY/bin.tar.xz"
  local dir
  for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    [[ -d $dir ]] && export LD_LIBRARY_PATH=$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  done
  return 0
}
