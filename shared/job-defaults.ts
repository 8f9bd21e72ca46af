/**
 * A job's default name and description follow its dataset: a Fashion-MNIST job that
 * the operator did not name is not called "MNIST digits". Volunteers read both.
 */
export interface JobText {
  name: string;
  description: string;
}

const BUILTIN: Record<string, JobText> = {
  mnist: { name: 'MNIST digits', description: 'Handwritten digit recognition (MNIST), trained by volunteers.' },
  'fashion-mnist': {
    name: 'Fashion-MNIST clothing',
    description: 'Recognising photos of clothing, shoes and bags (Fashion-MNIST), trained by volunteers.',
  },
  iris: { name: 'Iris flowers', description: 'Telling three species of iris apart by the size of their flowers, trained by volunteers.' },
};

export function defaultJobText(dataset: string): JobText {
  if (Object.prototype.hasOwnProperty.call(BUILTIN, dataset)) return BUILTIN[dataset]!;
  return { name: `${dataset} classifier`, description: `Classifying the examples of the uploaded dataset "${dataset}", trained by volunteers.` };
}

/**
 * The wire encoding of the jobs the coordinator makes by itself (`npm start`'s default
 * job) and the one the dashboard's form should preselect: topk-packed at ratio 0.008,
 * with pull deltas (adagrad, the default optimizer, moves only the entries a push
 * carries). The compression benchmark had it within 0.5 pt of fp32 at 1/125 of the
 * push bytes (+0.03 pt on the cnn, −0.42 on the mlp). Not the job spec's schema default:
 * an API user who leaves the codec out keeps lossless fp32, as before.
 */
export const BUILTIN_JOB_WIRE = { codec: 'topk-packed', topkRatio: 0.008 } as const;

/** The default job's codec fields for a codec chosen on a command line (`--codec fp32` measures the old default). */
export function builtinJobWire(codec: string = BUILTIN_JOB_WIRE.codec): { codec: string; topkRatio?: number } {
  return codec === BUILTIN_JOB_WIRE.codec ? { ...BUILTIN_JOB_WIRE } : { codec };
}
