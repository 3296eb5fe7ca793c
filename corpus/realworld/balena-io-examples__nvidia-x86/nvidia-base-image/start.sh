#!/bin/bash

sleep 6

python3 /workspace/pytorch-check.py

sleep infinity
