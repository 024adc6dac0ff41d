#!/usr/bin/env node
/** The `lemur` command line. */
import { Command } from 'commander';

import { info } from './info.js';

const program = new Command();
program.name('lemur').description('Train and evaluate LEMUR ranking models from the command line');

program
  .command('info')
  .description('show the LibTorch build, threads and CUDA devices')
  .option('--json', 'print JSON')
  .action((opts: { json?: boolean }) => {
    const i = info();
    if (opts.json) {
      console.log(JSON.stringify(i, null, 2));
      return;
    }
    console.log(`lemur ${i.version} on Node ${i.node}`);
    console.log(`LibTorch ${i.torch.version} (${i.torch.source}${i.torch.cuda ? ', CUDA' : ', CPU only'}) ${i.torch.library}`);
    console.log(`threads: intra-op ${i.threads.intraOp}, BLAS ${i.threads.blas} (${i.threads.blasLibrary}), ${i.threads.cores} cores`);
    console.log(`CUDA kernels: ${i.build.cudaKernels ? 'linked' : i.build.cudaKernelsCompiled ? `compiled for sm_${i.build.cudaArchs} as a check, not linked` : 'not built'}`);
    console.log(
      i.cuda.available
        ? i.cuda.devices.map((d) => `cuda:${d.index} ${d.name} ${(d.memoryBytes / 2 ** 30).toFixed(0)} GiB sm_${d.computeCapability}`).join('\n')
        : 'CUDA devices: none',
    );
  });

program
  .command('demo')
  .description('the main job on built-in generated data')
  .action(() => {
    program.parse(['node', 'lemur', 'info']);
  });

await program.parseAsync(process.argv);
