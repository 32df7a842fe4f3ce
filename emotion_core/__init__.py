"""The project's bottom layer: plain Python (numpy at most), no fairseq, no other project package.

Constants, the pretrained-directory layout, label spaces, manifest reading and writing, atomic file
writes and the checks of untrusted strings that every package above it uses.
"""
