"""Companion theory: task-head energy and feature change (docs/head_energy.md).

``model`` (the two-layer linear model, pipeline, metrics and first-order prediction; its names
are re-exported here) and ``resnet`` (the same measurements on the ResNet pipeline).
"""
from .model import (HeadEnergySetup, Problem, cross_entropy, energy_sweep, feature_metrics, finetune,
                    first_step_feature_change, gradients, initial_energy, probe_head, run_pipeline, sample_problem,
                    smoothed_targets, softmax)

__all__ = ["HeadEnergySetup", "Problem", "cross_entropy", "energy_sweep", "feature_metrics", "finetune",
           "first_step_feature_change", "gradients", "initial_energy", "probe_head", "run_pipeline", "sample_problem",
           "smoothed_targets", "softmax"]
