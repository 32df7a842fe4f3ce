"""Reproduction of the paper's tables: one-experiment driver, result tables and plots.

Not imported by the fairseq plugin. ``experiment`` runs fairseq-train / fairseq-validate / scoring
for one run and writes its ``results.json``; ``tables`` renders the paper's tables from a results
directory (the paper's numbers live there, typed once); ``plots`` draws curves and confusion matrices.
"""
