#!/bin/sh
# Prints what Plinth's GPU discovery reads (src/runtime/local/capacity.ts), to record as a test
# fixture from a real GPU host: sh scripts/record-nvidia-smi.sh > src/runtime/local/fixtures/nvidia-smi-<host>.csv
exec nvidia-smi --query-gpu=index,name,memory.total,uuid --format=csv,noheader,nounits
