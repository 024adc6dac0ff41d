/** `lemur info`: the LibTorch build, threads, the CPU tensor allocator and CUDA devices. */
import { Command } from 'commander';

import { info, memoryStats } from '../info.js';
import { print } from './common.js';

export function infoCommand(): Command {
  return new Command('info')
    .description('show the LibTorch build, threads and CUDA devices')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const i = info();
      if (opts.json) {
        print(JSON.stringify(i, null, 2));
        return;
      }
      print(`lemur ${i.version} on Node ${i.node}`);
      print(`binary: ${i.binary.binary === 'prebuilt' ? `prebuilt ${i.binary.package}` : 'built from source'} (${i.binary.reason}) ${i.binary.path}`);
      print(`LibTorch ${i.torch.version} (${i.torch.source}${i.torch.cuda ? ', CUDA' : ', CPU only'}) ${i.torch.library}`);
      print(`threads: intra-op ${i.threads.intraOp}, BLAS ${i.threads.blas} (${i.threads.blasLibrary}), ${i.threads.cores} cores; lemur's kernels on ${i.threads.kernelThreads}` +
        (i.threads.kernelThreads < i.threads.intraOp ? " (this build missed LibTorch's OpenMP runtime: rebuild with npm rebuild lemur --build-from-source)" : ''));
      print(`dense layers on CPU: ${i.threads.cpuGemm.startsWith('oneDNN') ? `${i.threads.cpuGemm} GEMM (LEMUR_CPU_GEMM=blas for LibTorch's BLAS)` : "LibTorch's BLAS"}`);
      print(`CPU tensors: ${memoryStats().tensorCache ? 'cached blocks reused (LEMUR_CPU_ALLOCATOR=system turns it off)' : "LibTorch's allocator (LEMUR_CPU_ALLOCATOR=system)"}`);
      print(
        `CUDA kernels: ${i.build.cudaKernels ? 'linked' : i.build.cudaKernelsCompiled ? `compiled for sm_${i.build.cudaArchs} as a check, not linked` : 'not built'}`,
      );
      print(`distributed: ${i.build.distributed === 'gloo+nccl' ? 'gloo + nccl (c10d; NCCL carries CUDA tensors; lemur train --nproc N)' : i.build.distributed === 'gloo' ? 'gloo (c10d; lemur train --nproc N)' : 'none (built without the gloo headers: apt-get install libgloo-dev, then rebuild)'}`);
      print(
        i.cuda.available
          ? i.cuda.devices.map((d) => `cuda:${d.index} ${d.name} ${(d.memoryBytes / 2 ** 30).toFixed(0)} GiB sm_${d.computeCapability}`).join('\n')
          : 'CUDA devices: none',
      );
    });
}
