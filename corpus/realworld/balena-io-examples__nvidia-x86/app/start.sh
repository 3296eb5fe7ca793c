#!/bin/bash

sleep 4

python3 pytorch-check.py

sleep infinity
