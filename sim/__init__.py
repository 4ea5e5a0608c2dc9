"""Digital twin of the cell: process physics, PyBullet world, simulated OPC UA devices, gym envs."""
