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
