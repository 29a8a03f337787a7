# loss_falls.awk - reads a train_loss.csv (header, then step,epoch,loss,...)
# and passes when the mean loss of the last ten steps is below that of the
# first ten by more than 0.02.  Set steps= to the expected number of steps
# and label= to name the loss in the printed line.
BEGIN { FS = "," }
NR > 1 { loss[NR - 1] = $3; n = NR - 1 }
END {
    if (n != steps) { print "expected " steps " steps, got " n; exit 1 }
    for (i = 1; i <= 10; i++) { a += loss[i]; b += loss[n - 10 + i] }
    printf "%sfirst ten steps %.4f, last ten %.4f\n", label, a / 10, b / 10
    exit !(b < a - 0.02)
}
