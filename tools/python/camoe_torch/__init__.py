"""camoe_torch: train CAMoE in PyTorch (one process or torchrun DDP), export it with
torch-to-nnef, and check the `.camoe` file `camoe convert` makes of it against PyTorch.
docs/TORCH.md tells how; docs/NNEF.md is the graph contract the export follows."""
