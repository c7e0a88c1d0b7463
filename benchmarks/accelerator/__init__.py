"""The parts of benchmarks/accelerator_check.py, the check of the paper profile on one accelerator.

    settings   the CHECK_* environment read into one dict, the check's constants
    bundle     the wheels this Python lacks and the CIFAR-10 images, unpacked
    results    the JSON record of one paper run (timing, or beside the authors' log)
    steps      what each step's own process does: device record, one paper run
    summary    the text of summary.txt
    driver     the whole check: each step in its own process, then the summary

Imports run settings <- bundle, results <- steps, summary <- driver.  No
module imports keras, a backend or gpc_support when it is imported: the
steps import them inside their functions, after the driver has unpacked the
wheels and put them on the path of the step's process.
"""
