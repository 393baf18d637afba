// The one jstat function the uniformity checks use (the package ships no types).
declare module 'jstat' {
  const jStat: { chisquare: { cdf(x: number, df: number): number } };
  export default jStat;
}
