// TEMP stub so the CDK stack can bundle this entry before the real planner handler lands; dropped at merge.
export const handler = async (): Promise<never> => {
  throw new Error('planner handler not built yet');
};
