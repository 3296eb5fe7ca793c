#!/bin/bash

sleep 3

# Run CUDA sample
/usr/local/cuda-11.5/samples/1_Utilities/deviceQuery/deviceQuery

sleep infinity
