"""The command layer: one module per command that parses nothing (hpbench.cli does), calls the library,
prints what it returns and writes the files. Library modules return values and log; they never print."""
